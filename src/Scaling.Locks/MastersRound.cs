using System.Diagnostics;
using StackExchange.Redis;

namespace Scaling.Locks;

/// <summary>
/// One command sent to every master at once (a lock round), collecting the answers until the outcome is
/// certain: a quorum granted, or a quorum can no longer be reached. One timer bounds the whole round (much shorter
/// than StackExchange.Redis's own command timeout); masters that have not answered when it fires are TimedOut, those
/// that had not answered when the outcome became certain are Pending. Writes sent by a round carry its deadline, so a
/// master that gets one after the round gave up refuses it.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage(
    "Design",
    "CA1001:Types that own disposable fields should be disposable",
    Justification = "The round disposes its timer itself when it finishes: every master answered, or the timer fired.")]
internal sealed class MastersRound
{
    private readonly RedlockProvider _provider;
    private readonly RedisLockNode[] _nodes;
    private readonly LockNodeOutcome?[] _outcomes;
    private readonly TimeSpan[] _elapsed;
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly TaskCompletionSource _decided = new();
    private readonly CancellationTokenSource _timeout;
    private readonly CancellationToken _expired;
    private readonly Lock _gate = new();
    private readonly bool _waitForAll;
    private CancellationTokenRegistration _callerRegistration;
    private LockNodeResult[]? _nodeResults;
    private int _unanswered;
    private bool _finished;

    private MastersRound(RedlockProvider provider, RedisLockNode[] nodes, TimeSpan timeout, bool waitForAll)
    {
        _waitForAll = waitForAll;
        _provider = provider;
        _nodes = nodes;
        _outcomes = new LockNodeOutcome?[nodes.Length];
        _elapsed = new TimeSpan[nodes.Length];
        Commands = new Task[nodes.Length];
        _unanswered = nodes.Length;
        _timeout = new CancellationTokenSource(timeout);
        _expired = _timeout.Token; // kept: the source is disposed when the round finishes
    }

    /// <summary>The command sent to each master (its task ends when that master answers or fails).</summary>
    internal Task[] Commands { get; }

    /// <summary>Cancelled when the round's time is up: a command not yet sent must not be sent any more.</summary>
    internal CancellationToken Expired => _expired;

    /// <summary>How many masters granted the command when the outcome was decided.</summary>
    internal int Granted { get; private set; }

    /// <summary>How many masters refused it (held by another owner, or no longer ours) when the outcome was decided.</summary>
    internal int Conflicted { get; private set; }

    /// <summary>Whether the caller's token cancelled the round.</summary>
    internal bool Cancelled { get; private set; }

    /// <summary>Each master's answer when the outcome was decided, in the order of the masters.</summary>
    internal LockNodeResult[] Nodes => _nodeResults ?? throw new InvalidOperationException("The round is not decided yet.");

    /// <summary>
    /// Sends one command per master (<paramref name="send"/> is called once per master, with the round's
    /// expiry token) and returns the round; await <see cref="DecidedAsync"/> for the outcome. With
    /// <paramref name="waitForAll"/>, the round is decided only when every master answered or the time is up.
    /// </summary>
    internal static MastersRound Start(
        RedlockProvider provider, RedisLockNode[] nodes, TimeSpan timeout, Func<RedisLockNode, int, CancellationToken, Task> send, CancellationToken cancellationToken, bool waitForAll = false)
    {
        var round = new MastersRound(provider, nodes, timeout, waitForAll);
        round._expired.UnsafeRegister(static state => ((MastersRound)state!).OnExpired(), round);
        if (cancellationToken.CanBeCanceled)
        {
            round._callerRegistration = cancellationToken.UnsafeRegister(static state => ((MastersRound)state!).OnCallerCancelled(), round);
        }

        for (var i = 0; i < nodes.Length; i++)
        {
            Task command;
            try
            {
                command = send(nodes[i], i, round._expired);
            }
            catch (Exception ex)
            {
                // One master's failure, even a synchronous one, is that master's outcome, never the round's.
                command = Task.FromException(ex);
            }

            round.Commands[i] = command;
            command.ContinueWith(
                static (task, state) => ((NodeSlot)state!).Round.OnAnswer(((NodeSlot)state).Index, task),
                new NodeSlot(round, i),
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        return round;
    }

    /// <summary>Completes when the outcome is certain; throws <see cref="OperationCanceledException"/> if the caller cancelled.</summary>
    internal async Task DecidedAsync(CancellationToken cancellationToken)
    {
        await _decided.Task.ConfigureAwait(false);
        if (Cancelled)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    private static bool IsGranted(Task answered) => (long)((Task<RedisResult>)answered).Result == 1;

    private void OnAnswer(int index, Task answered)
    {
        LockNodeOutcome outcome;
        if (answered.IsCompletedSuccessfully)
        {
            outcome = IsGranted(answered) ? LockNodeOutcome.Granted : LockNodeOutcome.Conflicted;
        }
        else if (answered.IsCanceled)
        {
            outcome = LockNodeOutcome.TimedOut; // the round expired while the connection was still being made
        }
        else
        {
            outcome = LockNodeOutcome.Failed;
            LocksLog.NodeCommandFailed(_provider.Logger, _nodes[index].EndPoint, answered.Exception!.GetBaseException().Message);
        }

        bool decided;
        lock (_gate)
        {
            if (_finished || _outcomes[index] is not null)
            {
                return; // the round already expired: this late answer does not count
            }

            _outcomes[index] = outcome;
            _elapsed[index] = Stopwatch.GetElapsedTime(_start);
            _unanswered--;
            decided = TryDecide();
            if (_unanswered == 0)
            {
                Finish(disposeTimer: true);
            }
        }

        Signal(decided);
    }

    private void OnExpired()
    {
        bool decided;
        lock (_gate)
        {
            if (_finished)
            {
                return;
            }

            var now = Stopwatch.GetElapsedTime(_start);
            for (var i = 0; i < _outcomes.Length; i++)
            {
                if (_outcomes[i] is null)
                {
                    _outcomes[i] = LockNodeOutcome.TimedOut;
                    _elapsed[i] = now;
                }
            }

            _unanswered = 0;
            decided = TryDecide();
            Finish(disposeTimer: false); // inside the timer's own callback: it has fired, nothing is left to stop
        }

        Signal(decided);
    }

    private void OnCallerCancelled()
    {
        var decided = false;
        lock (_gate)
        {
            if (_nodeResults is null)
            {
                Cancelled = true;
                Decide();
                decided = true;
            }
        }

        Signal(decided);
    }

    // Completes the caller's await outside the lock (its continuation may run inline on this thread).
    private void Signal(bool decided)
    {
        if (decided)
        {
            _decided.TrySetResult();
        }
    }

    /// <summary>Decides the round when its outcome is certain; returns whether it was decided just now.</summary>
    private bool TryDecide()
    {
        if (_nodeResults is not null)
        {
            return false;
        }

        int granted = 0, conflicted = 0;
        foreach (var outcome in _outcomes)
        {
            if (outcome == LockNodeOutcome.Granted)
            {
                granted++;
            }
            else if (outcome == LockNodeOutcome.Conflicted)
            {
                conflicted++;
            }
        }

        var quorum = _provider.Quorum;
        if (_unanswered == 0 || (!_waitForAll && (granted >= quorum || granted + _unanswered < quorum)))
        {
            Granted = granted;
            Conflicted = conflicted;
            Decide();
            return true;
        }

        return false;
    }

    private void Decide()
    {
        var now = Stopwatch.GetElapsedTime(_start);
        var results = new LockNodeResult[_nodes.Length];
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = _outcomes[i] is { } outcome
                ? new LockNodeResult(_nodes[i].EndPoint, outcome, _elapsed[i])
                : new LockNodeResult(_nodes[i].EndPoint, LockNodeOutcome.Pending, now);
        }

        _nodeResults = results;
    }

    private void Finish(bool disposeTimer)
    {
        // Every master answered or the round expired: nothing will read the timer or the caller's token again.
        _finished = true;
        _callerRegistration.Unregister();
        if (disposeTimer)
        {
            _timeout.Dispose();
        }
    }

    private sealed record NodeSlot(MastersRound Round, int Index);
}
