using System.Net;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace BookingHost.Tests.Realtime;

/// <summary>One received Server-Sent Event, with the time it was read.</summary>
public sealed record SseEvent(string? Id, string? Type, string Data, DateTimeOffset ReceivedAt)
{
    public JsonElement Json => JsonDocument.Parse(Data).RootElement;

    public DateTimeOffset OccurredAt => Json.GetProperty("occurredAt").GetDateTimeOffset();
}

/// <summary>Reads an event stream in the background (like a browser's EventSource, without reconnecting).</summary>
public sealed class SseClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly Stream _stream;
    private readonly Channel<SseEvent> _events = Channel.CreateUnbounded<SseEvent>();
    private readonly CancellationTokenSource _stop = new();
    private Task _reading = Task.CompletedTask;

    private SseClient(HttpResponseMessage response, Stream stream)
    {
        _response = response;
        _stream = stream;
    }

    /// <summary>Completes when the server ended the stream (with the exception, if it was aborted).</summary>
    public Task Ended => _reading;

    public int HeartbeatCount { get; private set; }

    /// <summary>Opens a stream and reads up to the server's "connected" comment (from then on nothing published is missed).</summary>
    public static async Task<SseClient> ConnectAsync(HttpClient http, string path = "/api/v1/events", bool read = true)
    {
        var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative)), HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            var body = await response.Content.ReadAsStringAsync();
            response.Dispose();
            throw new Xunit.Sdk.XunitException($"GET {path}: {(int)response.StatusCode} {body}");
        }

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var stream = await response.Content.ReadAsStreamAsync();
        var client = new SseClient(response, stream);
        var reader = new StreamReader(stream, Encoding.UTF8);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        string? line;
        while ((line = await reader.ReadLineAsync(timeout.Token)) != ": connected")
        {
            Assert.NotNull(line);
        }

        Assert.Equal(string.Empty, await reader.ReadLineAsync(timeout.Token));
        if (read)
        {
            client._reading = Task.Run(() => client.ReadAsync(reader));
        }

        return client;
    }

    /// <summary>The next event, failing the test after <paramref name="timeout"/>.</summary>
    public async Task<SseEvent> NextAsync(TimeSpan timeout)
        => await NextOrNullAsync(timeout) ?? throw new Xunit.Sdk.XunitException($"No event within {timeout.TotalMilliseconds:0} ms.");

    /// <summary>The next event, or <see langword="null"/> when none came within <paramref name="timeout"/>.</summary>
    public async Task<SseEvent?> NextOrNullAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await _events.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _stream.DisposeAsync();
        _response.Dispose();
        await _reading.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private async Task ReadAsync(StreamReader reader)
    {
        string? id = null, type = null;
        var data = new StringBuilder();
        try
        {
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                if (line.Length == 0)
                {
                    if (data.Length > 0)
                    {
                        _events.Writer.TryWrite(new SseEvent(id, type, data.ToString(), DateTimeOffset.UtcNow));
                    }

                    id = type = null;
                    data.Clear();
                }
                else if (line[0] == ':')
                {
                    HeartbeatCount++;
                }
                else if (line.StartsWith("id: ", StringComparison.Ordinal))
                {
                    id = line[4..];
                }
                else if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    type = line[7..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data.Append(line[6..]);
                }
            }
        }
        finally
        {
            _events.Writer.TryComplete();
        }
    }
}
