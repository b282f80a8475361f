using Microsoft.Extensions.Caching.Hybrid;
using Scaling.Testing;
using Xunit.Abstractions;
using ZiggyCreatures.Caching.Fusion;

namespace Scaling.Peers.Tests.Cache;

/// <summary>
/// A cross-instance tag invalidation: instance A invalidates a tag while instance B holds a tagged entry in L1 (read
/// from Redis, where A wrote it). Does B stop serving it?
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class TagInvalidationTests(ServersFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(5);
    private PeerCacheKit _kit = null!;

    public Task InitializeAsync()
    {
        _kit = new PeerCacheKit(fixture.Servers, "tags");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _kit.DisposeAsync();

    [Fact]
    public async Task Ours_RemoveByTag_on_A_makes_B_stop_serving_the_tagged_entry()
    {
        var a = await _kit.OursAsync();
        var b = await _kit.OursAsync();
        var database = new CountingFactory(() => "recomputed");
        await a.SetAsync("services", "old", tags: ["business:7"]);
        await a.SetAsync("untagged", "kept");
        Assert.Equal("old", await b.GetOrCreateAsync("services", database.InvokeAsync, tags: ["business:7"]));
        Assert.Equal("kept", await b.GetOrCreateAsync("untagged", database.InvokeAsync));

        await a.RemoveByTagAsync("business:7");

        await Eventually.TrueAsync(async () => await b.GetOrCreateAsync("services", database.InvokeAsync, tags: ["business:7"]) == "recomputed", Propagation, "B stopped serving the tagged entry");
        Assert.Equal("kept", await b.GetOrCreateAsync("untagged", database.InvokeAsync));
        Assert.Equal(1, database.Calls);
    }

    [Fact]
    public async Task FusionCache_RemoveByTag_on_A_makes_B_stop_serving_the_tagged_entry()
    {
        var a = _kit.Fusion(TimeSpan.FromMinutes(5));
        var b = _kit.Fusion(TimeSpan.FromMinutes(5));
        var database = new CountingFactory(() => "recomputed");
        await a.SetAsync("services", "old", tags: ["business:7"]);
        await a.SetAsync("untagged", "kept");
        Assert.Equal("old", await b.GetOrSetAsync<string>("services", (_, ct) => database.InvokeAsync(ct).AsTask(), tags: ["business:7"]));
        Assert.Equal("kept", await b.GetOrSetAsync<string>("untagged", (_, ct) => database.InvokeAsync(ct).AsTask()));

        await a.RemoveByTagAsync("business:7");

        await Eventually.TrueAsync(
            async () => await b.GetOrSetAsync<string>("services", (_, ct) => database.InvokeAsync(ct).AsTask(), tags: ["business:7"]) == "recomputed",
            Propagation,
            "B stopped serving the tagged entry");
        Assert.Equal("kept", await b.GetOrSetAsync<string>("untagged", (_, ct) => database.InvokeAsync(ct).AsTask()));
        Assert.Equal(1, database.Calls);
    }

    [Fact]
    public async Task HybridCache_RemoveByTag_on_A_leaves_B_serving_the_tagged_entry_from_L1()
    {
        var a = _kit.Hybrid(TimeSpan.FromMinutes(5));
        var b = _kit.Hybrid(TimeSpan.FromMinutes(5));
        var database = new CountingFactory(() => "recomputed");
        await a.SetAsync("services", "old", tags: ["business:7"]);
        Assert.Equal("old", await b.GetOrCreateAsync("services", database.InvokeAsync, tags: ["business:7"]));

        await a.RemoveByTagAsync("business:7");

        // A itself no longer serves it.
        Assert.Equal("recomputed", await a.GetOrCreateAsync("services", database.InvokeAsync, tags: ["business:7"]));
        // B was never told: after as long as ours and FusionCache need at most, it still serves the old value.
        await Task.Delay(Propagation);
        Assert.Equal("old", await b.GetOrCreateAsync("services", database.InvokeAsync, tags: ["business:7"]));
        Assert.Equal(1, database.Calls);
        output.WriteLine("HybridCache B still served the invalidated tag's entry 5 s after A's RemoveByTagAsync");
    }
}
