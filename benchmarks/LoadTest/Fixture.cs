using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Scaling.LoadTest;

/// <summary>A business of the run: its service, its resources (open all day, every day) and a staff member's token.</summary>
internal sealed record Business(string Id, string Shard, Guid ServiceId, Guid[] ResourceIds, string StaffToken);

/// <summary>A customer account of the run, signed in once; <see cref="LastBooking"/> is its latest acknowledged booking.</summary>
internal sealed class Account(int index, string email, string password, Guid id, string token, Business home)
{
    public int Index { get; } = index;

    public string Email { get; } = email;

    public string Password { get; } = password;

    public Guid Id { get; } = id;

    public string Token { get; } = token;

    /// <summary>The business it books at, queues at and watches.</summary>
    public Business Home { get; } = home;

    /// <summary>The latest booking acknowledged to this account and the consistency token that came with it.</summary>
    public volatile AcknowledgedBooking? LastBooking;
}

/// <summary>A booking answered with 201.</summary>
internal sealed record AcknowledgedBooking(string Tenant, Guid Id, DateTimeOffset StartsAt, string Notes, string? ConsistencyToken);

/// <summary>
/// Creates what a run works on, through the public API behind the proxy, as a platform would: businesses (spread over
/// both shards) with an owner, a staff member, a service and resources; customer accounts, registered and signed in.
/// </summary>
internal sealed class Fixture
{
    public const string Password = "load-test-password";
    public const int ServiceMinutes = 30;

    public required IReadOnlyList<Business> Businesses { get; init; }

    /// <summary>Each business's shard number (1 or 2), for the pause run's split of requests that need a paused shard.</summary>
    public IReadOnlyDictionary<string, byte> ShardOf => _shardOf ??= Businesses.ToDictionary(b => b.Id, b => b.Shard == "shard-1" ? (byte)1 : (byte)2);

    private IReadOnlyDictionary<string, byte>? _shardOf;

    public required IReadOnlyList<Account> Accounts { get; init; }

    public static async Task<Fixture> CreateAsync(HttpClient client, LoadTestOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        var run = Guid.NewGuid().ToString("N")[..6];
        var admin = await LoginAsync(client, "admin@demo.test", "demo-password", cancellationToken);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken };

        var businesses = new Business[options.Tenants];
        await Parallel.ForAsync(0, options.Tenants, parallel, async (i, ct) =>
            businesses[i] = await CreateBusinessAsync(client, admin.Token, $"lt{i:000}-{run}", i % 2 == 0 ? "shard-1" : "shard-2", options.Resources, ct));
        log.WriteLine($"Created {businesses.Length} businesses ({businesses.Count(b => b.Shard == "shard-1")} on shard-1, {businesses.Count(b => b.Shard == "shard-2")} on shard-2), {options.Resources} resources each.");

        var accounts = new Account[options.Accounts];
        await Parallel.ForAsync(0, options.Accounts, parallel, async (i, ct) =>
        {
            var email = $"customer{i}-{run}@load.test";
            await SendAsync(client, HttpMethod.Post, "/api/v1/auth/register", null, null, new { email, password = Password }, HttpStatusCode.Created, ct);
            var (token, id) = await LoginAsync(client, email, Password, ct);
            accounts[i] = new Account(i, email, Password, id, token, businesses[i % businesses.Length]);
        });
        log.WriteLine($"Registered and signed in {accounts.Length} customer accounts.");
        return new Fixture { Businesses = businesses, Accounts = accounts };
    }

    private static async Task<Business> CreateBusinessAsync(HttpClient client, string adminToken, string id, string shard, int resources, CancellationToken ct)
    {
        await SendAsync(client, HttpMethod.Post, "/api/v1/platform/tenants", null, adminToken, new { id, name = "Load " + id, plan = "premium", shard, timeZone = "UTC" }, HttpStatusCode.Created, ct);
        var ownerEmail = $"owner@{id}.load.test";
        await SendAsync(client, HttpMethod.Post, "/api/v1/auth/users", null, adminToken, new { email = ownerEmail, password = Password, role = "owner", tenant = id }, HttpStatusCode.Created, ct);
        var owner = await LoginAsync(client, ownerEmail, Password, ct);
        var staffEmail = $"staff@{id}.load.test";
        await SendAsync(client, HttpMethod.Post, "/api/v1/auth/users", id, owner.Token, new { email = staffEmail, password = Password, role = "staff" }, HttpStatusCode.Created, ct);
        var staff = await LoginAsync(client, staffEmail, Password, ct);

        var service = await SendAsync(client, HttpMethod.Post, "/api/v1/services", id, owner.Token, new { name = "Cut", durationMinutes = ServiceMinutes, priceCents = 2500 }, HttpStatusCode.Created, ct);
        var hours = Enumerable.Range(0, 7).Select(d => new { weekday = d, opens = "00:00:00", closes = "23:59:00" }).ToArray();
        var resourceIds = new Guid[resources];
        for (var r = 0; r < resources; r++)
        {
            var resource = await SendAsync(client, HttpMethod.Post, "/api/v1/resources", id, owner.Token, new { name = $"Chair {r + 1}", kind = "staff", hours }, HttpStatusCode.Created, ct);
            resourceIds[r] = resource.GetProperty("id").GetGuid();
        }

        return new Business(id, shard, service.GetProperty("id").GetGuid(), resourceIds, staff.Token);
    }

    private static async Task<(string Token, Guid Id)> LoginAsync(HttpClient client, string email, string password, CancellationToken ct)
    {
        var body = await SendAsync(client, HttpMethod.Post, "/api/v1/auth/login", null, null, new { email, password }, HttpStatusCode.OK, ct);
        var token = body.GetProperty("accessToken").GetString()!;
        var me = await SendAsync(client, HttpMethod.Get, "/api/v1/auth/me", null, token, null, HttpStatusCode.OK, ct);
        return (token, me.GetProperty("id").GetGuid());
    }

    private static async Task<JsonElement> SendAsync(HttpClient client, HttpMethod method, string path, string? tenant, string? token, object? body, HttpStatusCode expected, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        if (tenant is not null)
        {
            request.Headers.Add("X-Tenant", tenant);
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        using var response = await client.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (response.StatusCode != expected)
        {
            throw new InvalidOperationException($"Setting up the run: {method} {path} answered {(int)response.StatusCode}, expected {(int)expected}: {text}");
        }

        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }
}
