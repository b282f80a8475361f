using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Scaling.Data.Partitions;
using Scaling.Testing;

namespace Scaling.Data.Tests;

public sealed class OptionsTests
{
    [Fact]
    public void Invalid_options_fail_with_a_message_naming_each_option()
    {
        var options = new ScalingDataOptions
        {
            Name = "bad name",
            PrimaryConnectionString = null,
            MaxReplicaLagBytes = 0,
            MaxReplicaLagTime = TimeSpan.FromSeconds(-1),
            ReadmitLagRatio = 1.5,
            HealthCheckInterval = TimeSpan.Zero,
            MaxPrimaryFallbackReads = 0,
            CommandTimeout = TimeSpan.FromMilliseconds(1500),
            SlowQueryThreshold = TimeSpan.Zero,
        };
        options.ReplicaConnectionStrings.Add("Host=h;Nonsense=1");
        options.ReplicaConnectionStrings.Add("Host=a,b");

        var error = Assert.Throws<OptionsValidationException>(() => new ReadWriteDataSource(Options.Create(options)));
        var message = string.Join("\n", error.Failures);
        foreach (var option in new[]
        {
            "ScalingDataOptions.Name", "ScalingDataOptions.PrimaryConnectionString is required", "ScalingDataOptions.ReplicaConnectionStrings[0] is not a valid Npgsql connection string",
            "ScalingDataOptions.ReplicaConnectionStrings[1] names several hosts", "ScalingDataOptions.MaxReplicaLagBytes", "ScalingDataOptions.MaxReplicaLagTime",
            "ScalingDataOptions.ReadmitLagRatio", "ScalingDataOptions.HealthCheckInterval", "ScalingDataOptions.MaxPrimaryFallbackReads",
            "ScalingDataOptions.CommandTimeout must be a whole number of seconds", "ScalingDataOptions.SlowQueryThreshold",
        })
        {
            Assert.Contains(option, message, StringComparison.Ordinal);
        }

        Assert.Equal(11, error.Failures.Count());
    }

    [Fact]
    public void A_password_in_a_bad_connection_string_is_not_repeated()
    {
        var options = new ScalingDataOptions { PrimaryConnectionString = "Host=h;Password=hunter2;Bogus=1" };
        var error = Assert.Throws<OptionsValidationException>(() => new ReadWriteDataSource(Options.Create(options)));
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_are_valid()
    {
        var result = new ScalingDataOptionsValidator().Validate(null, new ScalingDataOptions { PrimaryConnectionString = "Host=127.0.0.1" });
        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Fact]
    public async Task Host_start_up_fails_on_invalid_options_naming_the_option()
    {
        using var host = Host.CreateDefaultBuilder()
            .ConfigureServices(s => s.AddScalingData(o =>
            {
                o.PrimaryConnectionString = "Host=127.0.0.1";
                o.MaxPrimaryFallbackReads = -3;
            }))
            .Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("ScalingDataOptions.MaxPrimaryFallbackReads must be greater than zero (was -3)", error.Message, StringComparison.Ordinal);
    }
}

[Collection(ServersCollection.Name)]
public sealed class RegistrationTests(ServersFixture fixture)
{
    [Fact]
    public async Task AddScalingData_registers_a_monitored_data_source_and_partition_maintenance()
    {
        var servers = fixture.Servers;
        var table = "reg_" + Guid.NewGuid().ToString("N")[..8];
        await servers.Shard1Primary.ExecuteAsync($"CREATE TABLE {table} (at timestamptz NOT NULL) PARTITION BY RANGE (at)");
        using var host = Host.CreateDefaultBuilder()
            .ConfigureServices(s => s
                .AddScalingData(o =>
                {
                    o.Name = "registered";
                    o.PrimaryConnectionString = servers.Shard1Primary.ConnectionString();
                    o.ReplicaConnectionStrings.Add(servers.Shard1Replica.ConnectionString());
                    o.HealthCheckInterval = TimeSpan.FromMilliseconds(100);
                })
                .AddScalingPartitionMaintenance(o => o.Tables.Add(new PartitionedTable(table) { MonthsAhead = 1 })))
            .Build();
        await host.StartAsync();
        try
        {
            var data = host.Services.GetRequiredService<ReadWriteDataSource>();
            Assert.Equal("registered", data.Name);
            Assert.Same(data, host.Services.GetRequiredService<ReadWriteDataSource>());
            await Eventually.TrueAsync(() => Task.FromResult(data.GetReplicaStatuses()[0].Health == ReplicaHealth.Healthy), TimeSpan.FromSeconds(10), "the hosted monitor to check the replica");
            await Eventually.TrueAsync(
                async () => await servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM pg_inherits WHERE inhparent = '{table}'::regclass") == 2,
                TimeSpan.FromSeconds(10),
                "the hosted maintenance to create this month's and next month's partitions");
            Assert.NotNull(host.Services.GetRequiredService<ReadWriteDataSourceHealthCheck>());
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
