using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Npgsql;
using Scaling.Data;

namespace Scaling.Tenancy.Sharding;

/// <summary>
/// A query run on several shards at once (see <see cref="ShardRouter.FanOut{T}"/>): enumerating it starts the query
/// on every shard and yields rows as they arrive, each tagged with its shard. Under <see cref="FanOutPolicy.Partial"/>
/// the shards that failed are listed in <see cref="Failures"/> once the enumeration has finished.
/// </summary>
/// <typeparam name="T">The row type.</typeparam>
public sealed class FanOutQuery<T> : IAsyncEnumerable<ShardRow<T>>
{
    private readonly ShardRouter _router;
    private readonly string _sql;
    private readonly Func<NpgsqlDataReader, T> _readRow;
    private readonly IReadOnlyList<object?> _parameters;
    private readonly FanOutOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<ShardFailure> _failures = new();
    private int _started;

    internal FanOutQuery(ShardRouter router, string sql, Func<NpgsqlDataReader, T> readRow, IReadOnlyList<object?> parameters, FanOutOptions options, ILogger logger)
    {
        _router = router;
        _sql = sql;
        _readRow = readRow;
        _parameters = parameters;
        _options = options;
        _logger = logger;
    }

    /// <summary>Gets the shards that failed (filled in as they fail; complete once the enumeration has finished).</summary>
    public IReadOnlyList<ShardFailure> Failures => _failures.ToArray();

    /// <summary>Gets the shards that delivered all their rows (complete once the enumeration has finished).</summary>
    public IReadOnlyList<string> CompletedShards { get; private set; } = [];

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The query was already enumerated (enumerate it once).</exception>
    public IAsyncEnumerator<ShardRow<T>> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("A fan-out query can be enumerated only once; call FanOut again to run it again.");
        }

        return RunAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
    }

    private async IAsyncEnumerable<ShardRow<T>> RunAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var shards = _options.Shards?.ToArray() ?? _router.Map.Shards.Select(s => s.Id).ToArray();
        foreach (var id in shards)
        {
            _ = _router.Map.TryGetShard(id, out _) ? 0 : throw new ArgumentException($"The fan-out names shard '{DisplayText.Quote(id)}', which the shard map does not have.");
        }

        using var all = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channel = Channel.CreateBounded<ShardRow<T>>(new BoundedChannelOptions(1024) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        var completed = new ConcurrentQueue<string>();
        var tasks = shards.Select(id => Task.Run(() => RunShardAsync(id, channel.Writer, completed, all), CancellationToken.None)).ToArray();
        _ = Task.WhenAll(tasks).ContinueWith(
            _ =>
            {
                CompletedShards = completed.ToArray();
                var failures = _failures.ToArray();
                channel.Writer.TryComplete(_options.Policy == FanOutPolicy.Complete && failures.Length > 0 && !cancellationToken.IsCancellationRequested
                    ? new FanOutException(failures)
                    : null);
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        try
        {
            await foreach (var row in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return row;
            }
        }
        finally
        {
            await all.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(tasks).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task RunShardAsync(string shardId, ChannelWriter<ShardRow<T>> writer, ConcurrentQueue<string> completed, CancellationTokenSource all)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(all.Token);
        timeout.CancelAfter(_options.ShardTimeout);

        // The shard's query never sees this fan-out's tokens. Npgsql cancels a command by sending the server a cancel
        // request and blocking the cancelling thread until the server hangs up, which a silent (paused) server never
        // does: a timeout or a caller's cancellation would hang with it. So a shard that runs out of time is abandoned
        // here, and its query is cancelled in the background.
        var run = new ShardRun();
        var work = QueryShardAsync(shardId, writer, run);
        try
        {
            await work.WaitAsync(timeout.Token).ConfigureAwait(false);
            completed.Enqueue(shardId);
        }
        catch (Exception e) when (!all.IsCancellationRequested || timeout.IsCancellationRequested && !all.Token.IsCancellationRequested)
        {
            run.Abandon(work);
            var error = timeout.IsCancellationRequested && !all.IsCancellationRequested
                ? new TimeoutException($"Shard '{shardId}' did not deliver all its rows within {_options.ShardTimeout.TotalSeconds:0.###} s.", e)
                : e;
            _failures.Enqueue(new ShardFailure(shardId, error, run.Rows));
            _router.Map.Instruments.FanOutShardFailures.Add(1, TenancyInstruments.Tag("shard", shardId));
            TenancyLog.FanOutShardFailed(_logger, shardId, error);
            if (_options.Policy == FanOutPolicy.Complete)
            {
                await all.CancelAsync().ConfigureAwait(false);
            }
        }
        catch (Exception) when (all.IsCancellationRequested)
        {
            // Cancelled by the caller or because another shard failed under the Complete policy.
            run.Abandon(work);
        }
    }

    private async Task QueryShardAsync(string shardId, ChannelWriter<ShardRow<T>> writer, ShardRun run)
    {
        var cancellationToken = run.Query.Token;
        var dataSource = _router.GetShard(shardId);
        var connection = _options.ReadFromPrimary
            ? await dataSource.OpenWriteConnectionAsync(cancellationToken).ConfigureAwait(false)
            : await dataSource.OpenReadConnectionAsync(null, cancellationToken).ConfigureAwait(false);
        await using var connectionLifetime = connection.ConfigureAwait(false);
        using var command = new NpgsqlCommand(_sql, connection);
        foreach (var value in _parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value });
        }

        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerLifetime = reader.ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var row = new ShardRow<T>(shardId, _readRow(reader));
            if (run.Abandoned)
            {
                return; // the fan-out has reported this shard as failed: no more of its rows
            }

            await writer.WriteAsync(row, cancellationToken).ConfigureAwait(false);
            run.Delivered();
        }
    }

    /// <summary>One shard's query: the token Npgsql sees, the rows delivered, and whether the fan-out stopped waiting for it.</summary>
    private sealed class ShardRun
    {
        private long _rows;
        private volatile bool _abandoned;

        public CancellationTokenSource Query { get; } = new();

        public long Rows => Interlocked.Read(ref _rows);

        public bool Abandoned => _abandoned;

        public void Delivered() => Interlocked.Increment(ref _rows);

        /// <summary>
        /// Stops delivering the query's rows and cancels it on a thread of its own (which blocks until a silent server
        /// resumes). The token source is left to the garbage collector: the cancellation may still run on it.
        /// </summary>
        public void Abandon(Task work)
        {
            _abandoned = true;
            if (work.IsCompleted)
            {
                _ = work.Exception;
                return;
            }

            _ = Task.Run(Query.Cancel, CancellationToken.None);
            _ = work.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }
}
