using System.Globalization;

namespace Scaling.LoadTest;

/// <summary>
/// Open Server-Sent Events streams through the proxy: one per business as its staff (every event of the business), the
/// rest as customers (their own bookings). Each event's delivery latency is its arrival time minus the
/// <c>occurredAt</c> the host stamped on it (one machine, one clock). A stream that drops is counted and reopened.
/// </summary>
internal sealed class EventStreams : IAsyncDisposable
{
    private const string OccurredAt = "\"occurredAt\":\"";

    private readonly HttpClient _client;
    private readonly Fixture _fixture;
    private readonly Recorder _recorder;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _streams = [];
    private int _open;
    private long _connectFailures;
    private long _drops;
    private int _disposed;

    public EventStreams(HttpClient client, Fixture fixture, Recorder recorder)
    {
        _client = client;
        _fixture = fixture;
        _recorder = recorder;
    }

    public int Open => Volatile.Read(ref _open);

    public long ConnectFailures => Interlocked.Read(ref _connectFailures);

    public long Drops => Interlocked.Read(ref _drops);

    /// <summary>Opens <paramref name="count"/> streams, a batch at a time, and returns once they are open (or failed).</summary>
    public async Task OpenAsync(int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var staff = Math.Min(_fixture.Businesses.Count, count);
        for (var i = 0; i < count; i++)
        {
            var (tenant, token) = i < staff
                ? (_fixture.Businesses[i].Id, _fixture.Businesses[i].StaffToken)
                : (_fixture.Accounts[i % _fixture.Accounts.Count].Home.Id, _fixture.Accounts[i % _fixture.Accounts.Count].Token);
            _streams.Add(Task.Run(() => RunStreamAsync(tenant, token), CancellationToken.None));
            if (i % 100 == 99)
            {
                await WaitOpenAsync(i + 1, TimeSpan.FromSeconds(30), cancellationToken);
            }
        }

        await WaitOpenAsync(count, timeout, cancellationToken);
    }

    /// <summary>Closes every stream (idempotent).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        await Task.WhenAll(_streams);
        _stop.Dispose();
    }

    private async Task WaitOpenAsync(int target, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Open + ConnectFailures < target && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, cancellationToken);
        }
    }

    private async Task RunStreamAsync(string tenant, string token)
    {
        var first = true;
        while (!_stop.IsCancellationRequested)
        {
            var opened = false;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/events");
                request.Headers.TryAddWithoutValidation("X-Tenant", tenant);
                request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
                request.Headers.TryAddWithoutValidation("Accept", "text/event-stream");
                using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _stop.Token);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _connectFailures);
                }
                else
                {
                    opened = true;
                    Interlocked.Increment(ref _open);
                    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(_stop.Token));
                    while (await reader.ReadLineAsync(_stop.Token) is { } line)
                    {
                        if (line.StartsWith("data:", StringComparison.Ordinal))
                        {
                            Received(line);
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                // The run is over.
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
            {
                if (!opened)
                {
                    Interlocked.Increment(ref _connectFailures);
                }
            }
            finally
            {
                if (opened)
                {
                    Interlocked.Decrement(ref _open);
                    if (!_stop.IsCancellationRequested)
                    {
                        Interlocked.Increment(ref _drops);
                    }
                }
            }

            if (!_stop.IsCancellationRequested)
            {
                // Reconnect as a browser would (the host suggests 2 s); the first failure is retried sooner.
                try
                {
                    await Task.Delay(first ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromSeconds(2), _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            first = false;
        }
    }

    private void Received(string line)
    {
        var now = DateTimeOffset.UtcNow;
        var at = line.IndexOf(OccurredAt, StringComparison.Ordinal);
        if (at < 0)
        {
            return;
        }

        var start = at + OccurredAt.Length;
        var end = line.IndexOf('"', start);
        if (end > start && DateTimeOffset.TryParse(line.AsSpan(start, end - start), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var occurred))
        {
            _recorder.AddDelivery(now - occurred);
        }
    }
}
