using BookingHost.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using BookingHost.Tests.Auth;
using Scaling.Testing;

namespace BookingHost.Tests;

[Collection(ServersCollection.Name)]
public sealed class HostOptionsTests(ServersFixture fixture)
{
    [Fact]
    public async Task A_bad_host_setting_stops_the_host_before_it_serves_and_names_the_setting()
    {
        await AssertRefusedAsync("BookingHost:BookingMonthsAhead", "0");
    }

    [Fact]
    public async Task A_bad_validated_token_cache_size_stops_the_host_and_the_bearer_scheme_uses_the_caching_handler_otherwise()
    {
        await AssertRefusedAsync("BookingHost:Jwt:ValidatedTokenCacheSize", "-1");

        await using var app = await BookingApp.StartAsync(fixture.Servers);
        var bearer = app.Services.GetRequiredService<IOptionsMonitor<Microsoft.AspNetCore.Authentication.JwtBearer.JwtBearerOptions>>()
            .Get(Microsoft.AspNetCore.Authentication.JwtBearer.JwtBearerDefaults.AuthenticationScheme);
        var handler = Assert.IsType<BookingHost.Auth.CachingAccessTokenHandler>(Assert.Single(bearer.TokenHandlers));
        using var client = app.CreateClient();
        var token = app.Token("customer");
        for (var i = 0; i < 3; i++)
        {
            using var me = await client.GetAsync("/api/v1/auth/me", token);
            Assert.Equal(System.Net.HttpStatusCode.OK, me.StatusCode);
        }

        Assert.Equal(1, handler.Count);
    }

    [Fact]
    public async Task The_host_settings_are_bound_once_and_every_service_gets_that_instance()
    {
        await using var app = await BookingApp.StartAsync(fixture.Servers, configure: b => b.UseSetting("BookingHost:BookingMonthsAhead", "3"));

        var options = app.Services.GetRequiredService<IOptions<BookingHostOptions>>().Value;
        Assert.Equal(3, options.BookingMonthsAhead);
        Assert.Equal(app.Cluster, options.MetadataSchema);
        Assert.Same(options, app.Services.GetRequiredService<BookingHost.Api.BookingDeps>().Settings);
        Assert.Contains(app.Services.GetServices<MigrationContribution>(), c => c.Area == "domain" && c.Migrations.Any(m => m.Sql.Contains(options.TenantRole, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Each_shard_server_gets_at_most_ShardMaxPoolSize_connections_from_an_instance_and_keeps_them()
    {
        await using var app = await BookingApp.StartAsync(fixture.Servers, configure: b => b.UseSetting("BookingHost:ShardMaxPoolSize", "2"));
        await app.CreateBusinessAsync("shard-1");
        var primary = app.Services.GetRequiredService<Scaling.Tenancy.Sharding.ShardRouter>().GetShard("shard-1").Primary;

        await using var first = await primary.OpenConnectionAsync();
        await using var second = await primary.OpenConnectionAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAnyAsync<Exception>(async () => await primary.OpenConnectionAsync(timeout.Token)); // the third waits: the pool is full

        // And the pool never shrinks below it: Npgsql's pruning would close idle connections in a batch that the next
        // burst reopens at once (0.4-0.8 s stalls of the 2-core load-test machine).
        Assert.Equal(2, new Npgsql.NpgsqlConnectionStringBuilder(primary.ConnectionString).MinPoolSize);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(0)]
    public async Task Shard_statements_are_prepared_on_their_connection_unless_ShardMaxAutoPrepare_is_0(int maxAutoPrepare)
    {
        // One connection per shard server, so every write below runs in the same PostgreSQL session.
        await using var app = await BookingApp.StartAsync(fixture.Servers, configure: b => b
            .UseSetting("BookingHost:ShardMaxPoolSize", "1")
            .UseSetting("BookingHost:ShardMaxAutoPrepare", maxAutoPrepare.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var tenant = await app.CreateBusinessAsync("shard-1");
        const string Statement = "SELECT count(*) FROM bookings WHERE starts_at > $1";
        for (var i = 0; i < 6; i++) // Npgsql prepares a statement at its fifth use (Auto Prepare Min Usages)
        {
            await app.Router.WriteAsync(tenant, async (tx, ct) =>
            {
                await using var command = new Npgsql.NpgsqlCommand(Statement, tx.Connection, tx);
                command.Parameters.Add(new() { Value = DateTime.UtcNow });
                return (long)(await command.ExecuteScalarAsync(ct))!;
            });
        }

        var prepared = await app.Router.WriteAsync(tenant, async (tx, ct) =>
        {
            await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", tx.Connection, tx);
            command.Parameters.Add(new() { Value = Statement });
            return (long)(await command.ExecuteScalarAsync(ct))!;
        });
        Assert.Equal(maxAutoPrepare > 0 ? 1L : 0L, prepared.Value);
    }

    [Fact]
    public async Task The_thread_pool_keeps_MinWorkerThreads_ready()
    {
        await using var app = await BookingApp.StartAsync(fixture.Servers, configure: b => b.UseSetting("BookingHost:MinWorkerThreads", "300"));
        ThreadPool.GetMinThreads(out var workers, out _);
        Assert.True(workers >= 300, $"minimum worker threads: {workers}");
    }

    /// <summary>The host refuses to start with <paramref name="setting"/> set to <paramref name="value"/>, naming the setting.</summary>
    private async Task AssertRefusedAsync(string setting, string value)
    {
        var app = new BookingApp(fixture.Servers, BookingApp.NewCluster(), b => b.UseSetting(setting, value));
        try
        {
            var error = Assert.ThrowsAny<Exception>(() => app.Server);

            var validation = Assert.IsType<OptionsValidationException>(error is OptionsValidationException ? error : error.GetBaseException());
            Assert.Contains(validation.Failures, f => f.Contains(setting, StringComparison.Ordinal));
        }
        finally
        {
            await app.DisposeAsync();
        }
    }
}
