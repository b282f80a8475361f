using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Scaling.Testing;

namespace Scaling.Locks.Tests;

[Collection(ServersCollection.Name)]
public sealed class MetricsTests(ServersFixture fixture)
{
    [Fact]
    public async Task Acquisitions_contention_and_lost_locks_are_measured()
    {
        var measurements = new ConcurrentQueue<(string Instrument, double Value, string? Tag)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Scaling.Locks")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => measurements.Enqueue((i.Name, v, FirstTag(tags))));
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => measurements.Enqueue((i.Name, v, FirstTag(tags))));
        listener.Start();

        await using var provider = await LockTestKit.Provider(fixture.Servers, o => o.AutoExtend = false).WarmAsync();
        var resource = LockTestKit.Resource("metrics");
        measurements.Clear();
        var handle = await provider.AcquireAsync(resource, TimeSpan.FromMilliseconds(300), TimeSpan.Zero);
        Assert.Null(await provider.TryAcquireAsync(resource, TimeSpan.FromSeconds(1), TimeSpan.Zero));
        await Eventually.TrueAsync(() => Task.FromResult(handle.IsLost), TimeSpan.FromSeconds(3), "the lock lost at the end of its validity");
        await handle.DisposeAsync();

        var seen = measurements.ToArray();
        Assert.Contains(seen, m => m.Instrument == "scaling.locks.acquire.duration" && m.Tag == "acquired" && m.Value > 0);
        Assert.Contains(seen, m => m.Instrument == "scaling.locks.acquire.duration" && m.Tag == "conflicted");
        Assert.Contains(seen, m => m.Instrument == "scaling.locks.attempts" && m.Tag == "conflicted");
        Assert.Equal(1, seen.Count(m => m.Instrument == "scaling.locks.contention"));
        Assert.Equal(1, seen.Count(m => m.Instrument == "scaling.locks.lost"));
    }

    private static string? FirstTag(ReadOnlySpan<KeyValuePair<string, object?>> tags) => tags.Length > 0 ? tags[0].Value as string : null;
}
