using Scaling.Testing;

namespace Scaling.Cache.Tests;

/// <summary>
/// What only <see cref="TwoTierCache"/> does with invalid keys (the shared behaviour is in
/// <see cref="HybridCacheContractTests"/>): each bypass is counted and logged, and
/// <see cref="ScalingCacheOptions.ThrowOnInvalidKey"/> turns it into an exception.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class InvalidKeyTests(ServersFixture fixture) : IAsyncLifetime
{
    private CacheTestKit _kit = null!;

    public Task InitializeAsync()
    {
        _kit = new CacheTestKit(fixture.Servers, "invalid-key");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _kit.DisposeAsync();

    [Fact]
    public async Task Every_bypass_is_counted_by_operation_and_reason_and_logged_as_a_warning_with_the_key_quoted()
    {
        var cache = _kit.Create(out var metrics, o => o.MaxKeyLength = 20);
        await CacheTestKit.ReadyAsync(cache);
        var factory = new CountingFactory<int>(n => n);

        Assert.Equal(1, await cache.GetOrCreateAsync(new string('k', 21), factory.InvokeAsync));
        Assert.Equal(2, await cache.GetOrCreateAsync("bell\u0007", factory.InvokeAsync));
        Assert.Equal(3, await cache.GetOrCreateAsync(string.Empty, factory.InvokeAsync));
        await cache.SetAsync("has space", 1);
        await cache.RemoveAsync("tab\there");
        await cache.RemoveByTagAsync("caf\u00e9");

        Assert.Equal(6, metrics["scaling.cache.keys.invalid"]);
        Assert.Equal(3, metrics["scaling.cache.keys.invalid|operation=get_or_create"]);
        Assert.Equal(1, metrics["scaling.cache.keys.invalid|operation=set"]);
        Assert.Equal(1, metrics["scaling.cache.keys.invalid|operation=remove"]);
        Assert.Equal(1, metrics["scaling.cache.keys.invalid|operation=remove_by_tag"]);
        Assert.Equal(1, metrics["scaling.cache.keys.invalid|reason=too_long"]);
        Assert.Equal(1, metrics["scaling.cache.keys.invalid|reason=empty"]);
        Assert.Equal(4, metrics["scaling.cache.keys.invalid|reason=invalid_character"]);
        Assert.Equal(3, metrics["scaling.cache.factory.calls|outcome=success"]);
        Assert.Equal(0, cache.LocalEntryCount);

        var warnings = _kit.Logs.Entries.Where(e => e.StartsWith("Warning:", StringComparison.Ordinal) && e.Contains("bypassed the cache", StringComparison.Ordinal)).ToList();
        Assert.Equal(5, warnings.Count);
        Assert.Contains(warnings, w => w.Contains("'bell\\u0007'", StringComparison.Ordinal) && w.Contains("invalid_character", StringComparison.Ordinal) && w.Contains("get_or_create", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains("'kkkkkkkkkkkkkkkkkkkkk'", StringComparison.Ordinal) && w.Contains("too_long", StringComparison.Ordinal));
        Assert.Contains(_kit.Logs.Entries, e => e.StartsWith("Warning:", StringComparison.Ordinal) && e.Contains("cache tag 'caf\\u00E9'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_bypassed_SetAsync_writes_nothing_to_Redis()
    {
        var cache = await _kit.CreateReadyAsync(o => o.MaxKeyLength = 20);
        var key = new string('k', 21);

        await cache.SetAsync(key, "never stored");

        var raw = await _kit.RawAsync();
        Assert.False(await raw.KeyExistsAsync(_kit.Prefix + key));
    }

    [Fact]
    public async Task ThrowOnInvalidKey_throws_ArgumentException_naming_the_key_parameter_and_the_rule()
    {
        var cache = _kit.Create(out var metrics, o => o.ThrowOnInvalidKey = true);
        var factory = new CountingFactory<int>(n => n);

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.GetOrCreateAsync("control\u0001character", factory.InvokeAsync));
        Assert.Equal("key", error.ParamName);
        Assert.Contains("U+0001 at index 7", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, factory.Calls);
        Assert.Equal(0, metrics["scaling.cache.keys.invalid"]);
    }

    [Fact]
    public async Task By_default_a_null_key_and_bad_tags_of_an_entry_are_still_argument_errors()
    {
        var cache = _kit.Create();
        var factory = new CountingFactory<int>(n => n);

        await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.GetOrCreateAsync(null!, factory.InvokeAsync));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.RemoveByTagAsync((string)null!));
        var badTag = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetAsync("k", 1, tags: ["ok", "not ok"]));
        Assert.Contains("cache tag", badTag.Message, StringComparison.Ordinal);
        Assert.Equal(0, factory.Calls);
    }
}
