using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Scaling.LoadTest;

/// <summary>A queue token answered with 201.</summary>
internal sealed record AcknowledgedToken(string Tenant, string Location, DateOnly Day, int Number);

/// <summary>
/// The scenario mix, run by closed-loop clients (each waits for its answer, then goes again) or on an open-loop
/// schedule (requests start at the configured rate whatever the answers; latency counts from the scheduled start, so a
/// slow server cannot hide its queueing). Records every request and what the invariants need: each booking and queue
/// token acknowledged, each read that missed its own write.
/// </summary>
internal sealed class Workload
{
    public const string QueueLocation = "front-desk";

    /// <summary>Days ahead that bookings spread over (the host keeps partitions 6 months ahead).</summary>
    private const int BookingDays = 150;

    /// <summary>Days ahead that availability reads look at (the popular part of the calendar).</summary>
    private const int AvailabilityDays = 14;

    private const int SlotsPerDay = (24 * 60 / Fixture.ServiceMinutes) - 1;

    private static readonly MediaTypeHeaderValue Json = new("application/json") { CharSet = "utf-8" };

    private readonly HttpClient _client;
    private readonly Fixture _fixture;
    private readonly LoadTestOptions _options;
    private readonly Recorder _recorder;
    private readonly Operation[] _operations;
    private readonly int[] _cumulativeWeights;
    private readonly DateTime _tomorrow = DateTime.UtcNow.Date.AddDays(1);
    private long _requestNumber;

    public Workload(HttpClient client, Fixture fixture, LoadTestOptions options, Recorder recorder)
    {
        _client = client;
        _fixture = fixture;
        _options = options;
        _recorder = recorder;
        var mix = options.Mix.Where(pair => pair.Value > 0).ToArray();
        _operations = [.. mix.Select(pair => pair.Key)];
        _cumulativeWeights = new int[mix.Length];
        for (int i = 0, sum = 0; i < mix.Length; i++)
        {
            _cumulativeWeights[i] = sum += mix[i].Value;
        }
    }

    public ConcurrentQueue<AcknowledgedBooking> Bookings { get; } = new();

    public ConcurrentQueue<AcknowledgedToken> QueueTokens { get; } = new();

    /// <summary>Reads with a consistency token that did not show the account's own acknowledged booking.</summary>
    public long StaleReads => Interlocked.Read(ref _staleReads);

    private long _staleReads;

    /// <summary>Reads with a consistency token whose answer was checked for the account's own booking.</summary>
    public long ReadsChecked => Interlocked.Read(ref _readsChecked);

    private long _readsChecked;

    /// <summary>Runs until <paramref name="stop"/> fires; requests in flight then finish (or time out).</summary>
    public Task RunAsync(CancellationToken stop) => _options.OpenLoop ? Task.Run(() => RunOpenLoopAsync(stop), CancellationToken.None) : RunClosedLoopAsync(stop);

    private Task RunClosedLoopAsync(CancellationToken stop)
    {
        var clients = new Task[_options.Clients];
        for (var i = 0; i < clients.Length; i++)
        {
            var account = _fixture.Accounts[i % _fixture.Accounts.Count];
            var random = new Random(i);
            clients[i] = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await RunOneAsync(account, random, _recorder.Now);
                    if (_options.Think > TimeSpan.Zero)
                    {
                        try
                        {
                            await Task.Delay(_options.Think, stop);
                        }
                        catch (OperationCanceledException)
                        {
                            break;
                        }
                    }
                }
            }, CancellationToken.None);
        }

        return Task.WhenAll(clients);
    }

    private async Task RunOpenLoopAsync(CancellationToken stop)
    {
        using var slots = new SemaphoreSlim(_options.Clients);
        var inFlight = new List<Task>();
        var interval = Recorder.TicksOf(TimeSpan.FromSeconds(1 / _options.Rate));
        var next = _recorder.Now;
        var random = new Random(7);
        long n = 0;
        while (!stop.IsCancellationRequested)
        {
            var now = _recorder.Now;
            if (next > now)
            {
                // Sleep until the next start is due (timers tick in milliseconds: what falls due meanwhile starts
                // together, each still timed from its own due time).
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(Math.Max(Recorder.Seconds(next - now), 0.001)), stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                continue;
            }

            // Everything due by now starts now, each timed from when it was due.
            var due = next;
            next += interval;
            var account = _fixture.Accounts[(int)(n++ % _fixture.Accounts.Count)];
            var seed = random.Next();
            inFlight.Add(Task.Run(async () =>
            {
                await slots.WaitAsync(CancellationToken.None);
                try
                {
                    await RunOneAsync(account, new Random(seed), due);
                }
                finally
                {
                    slots.Release();
                }
            }, CancellationToken.None));
            if (inFlight.Count > 10_000)
            {
                inFlight.RemoveAll(t => t.IsCompleted);
            }
        }

        await Task.WhenAll(inFlight);
    }

    private Task RunOneAsync(Account account, Random random, long start) => Pick(random) switch
    {
        Operation.Availability => AvailabilityAsync(random, start),
        Operation.Book => BookAsync(account, random, start),
        Operation.List => ListAsync(account, start),
        Operation.Queue => QueueAsync(account, random, start),
        _ => LoginAsync(account, start),
    };

    /// <summary>An operation drawn with the mix's weights.</summary>
    private Operation Pick(Random random)
    {
        var draw = random.Next(_cumulativeWeights[^1]);
        var index = Array.BinarySearch(_cumulativeWeights, draw + 1);
        return _operations[index >= 0 ? index : ~index];
    }

    private Task AvailabilityAsync(Random random, long start)
    {
        var business = _fixture.Businesses[random.Next(_fixture.Businesses.Count)];
        var resource = business.ResourceIds[random.Next(business.ResourceIds.Length)];
        var day = _tomorrow.AddDays(random.Next(AvailabilityDays));
        var path = $"/api/v1/availability?serviceId={business.ServiceId}&resourceId={resource}&date={day:yyyy-MM-dd}";
        return SendAsync(RequestKind.Availability, HttpMethod.Get, path, business.Id, null, null, start, null);
    }

    private Task BookAsync(Account account, Random random, long start)
    {
        var business = account.Home;
        DateTime startsAt;
        Guid resource;
        if (random.NextDouble() < _options.Hot)
        {
            // A popular slot: the first resource, tomorrow morning, one of four start times. Most of these lose (409).
            resource = business.ResourceIds[0];
            startsAt = _tomorrow.AddHours(9).AddMinutes(Fixture.ServiceMinutes * random.Next(4));
        }
        else
        {
            resource = business.ResourceIds[random.Next(business.ResourceIds.Length)];
            startsAt = _tomorrow.AddDays(random.Next(BookingDays)).AddMinutes(Fixture.ServiceMinutes * random.Next(SlotsPerDay));
        }

        var notes = "lt:" + Interlocked.Increment(ref _requestNumber).ToString(CultureInfo.InvariantCulture);
        var body = $$"""{"serviceId":"{{business.ServiceId}}","resourceId":"{{resource}}","startsAt":"{{startsAt:yyyy-MM-ddTHH:mm:ss}}Z","notes":"{{notes}}"}""";
        return SendAsync(RequestKind.Book, HttpMethod.Post, "/api/v1/bookings", business.Id, account.Token, body, start, async response =>
        {
            if ((int)response.StatusCode != 201)
            {
                return;
            }

            using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
            var token = response.Headers.TryGetValues("X-Consistency-Token", out var values) ? values.FirstOrDefault() : null;
            var booking = new AcknowledgedBooking(business.Id, json.RootElement.GetProperty("id").GetGuid(), json.RootElement.GetProperty("startsAt").GetDateTimeOffset(), notes, token);
            Bookings.Enqueue(booking);
            account.LastBooking = booking;
        }, idempotent: true);
    }

    private Task ListAsync(Account account, long start)
    {
        var last = account.LastBooking;
        if (last is null)
        {
            return SendAsync(RequestKind.List, HttpMethod.Get, "/api/v1/bookings?limit=20", account.Home.Id, account.Token, null, start, null);
        }

        // Read-your-writes: the page around the account's latest booking, with its token, must show that booking.
        var from = last.StartsAt.UtcDateTime.AddMinutes(-1).ToString("yyyy-MM-ddTHH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var to = last.StartsAt.UtcDateTime.AddMinutes(1).ToString("yyyy-MM-ddTHH:mm:ss'Z'", CultureInfo.InvariantCulture);
        return SendAsync(RequestKind.List, HttpMethod.Get, $"/api/v1/bookings?from={from}&to={to}", account.Home.Id, account.Token, null, start, async response =>
        {
            if ((int)response.StatusCode != 200)
            {
                return;
            }

            using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
            Interlocked.Increment(ref _readsChecked);
            if (!json.RootElement.GetProperty("items").EnumerateArray().Any(item => item.GetProperty("id").GetGuid() == last.Id))
            {
                Interlocked.Increment(ref _staleReads);
            }
        }, consistencyToken: last.ConsistencyToken);
    }

    private Task QueueAsync(Account account, Random random, long start)
    {
        var business = account.Home;
        var path = $"/api/v1/queues/{QueueLocation}";
        var pick = random.Next(100);
        if (pick < 60)
        {
            var body = $$"""{"customerName":"Walk-in {{account.Index}}"}""";
            return SendAsync(RequestKind.QueueIssue, HttpMethod.Post, path + "/tokens", business.Id, account.Token, body, start, async response =>
            {
                if ((int)response.StatusCode != 201)
                {
                    return;
                }

                using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
                var issued = json.RootElement.GetProperty("issuedAt").GetDateTimeOffset();
                QueueTokens.Enqueue(new AcknowledgedToken(business.Id, QueueLocation, DateOnly.FromDateTime(issued.UtcDateTime), json.RootElement.GetProperty("number").GetInt32()));
            });
        }

        return pick < 85
            ? SendAsync(RequestKind.QueueCallNext, HttpMethod.Post, path + "/call-next", business.Id, business.StaffToken, null, start, null)
            : SendAsync(RequestKind.QueueSnapshot, HttpMethod.Get, path, business.Id, null, null, start, null);
    }

    private Task LoginAsync(Account account, long start)
    {
        var body = $$"""{"email":"{{account.Email}}","password":"{{account.Password}}"}""";
        return SendAsync(RequestKind.Login, HttpMethod.Post, "/api/v1/auth/login", null, null, body, start, null);
    }

    private async Task SendAsync(
        RequestKind kind,
        HttpMethod method,
        string path,
        string? tenant,
        string? token,
        string? body,
        long start,
        Func<HttpResponseMessage, Task>? onResponse,
        bool idempotent = false,
        string? consistencyToken = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (tenant is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Tenant", tenant);
        }

        if (token is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        }

        if (idempotent)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", Guid.NewGuid().ToString("N"));
        }

        if (consistencyToken is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Consistency-Token", consistencyToken);
        }

        if (body is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) { Headers = { ContentType = Json } };
        }

        short status;
        using var timeout = new CancellationTokenSource(_options.RequestTimeout);
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
            status = (short)response.StatusCode;
            if (onResponse is not null)
            {
                await onResponse(response);
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            status = Sample.Timeout;
        }
        catch (HttpRequestException)
        {
            status = Sample.ConnectionError;
        }
#pragma warning disable CA1031 // A failed request is recorded, never fatal to the run.
        catch (Exception)
#pragma warning restore CA1031
        {
            status = Sample.OtherError;
        }

        _recorder.Add(kind, status, start, tenant is not null && _fixture.ShardOf.TryGetValue(tenant, out var shard) ? shard : (byte)0);
    }
}
