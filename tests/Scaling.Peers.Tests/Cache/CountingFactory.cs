namespace Scaling.Peers.Tests.Cache;

/// <summary>A factory (the "database" behind a cache) that counts its calls.</summary>
internal sealed class CountingFactory(Func<string> produce)
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public ValueTask<string> InvokeAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        return ValueTask.FromResult(produce());
    }
}
