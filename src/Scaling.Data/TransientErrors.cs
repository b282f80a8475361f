using Npgsql;
using Polly.CircuitBreaker;

namespace Scaling.Data;

/// <summary>Which failures Scaling.Data treats as transient, and which of those say a server is unusable.</summary>
public static class TransientErrors
{
    /// <summary>
    /// Whether <paramref name="exception"/> says the server could not be used: the connection could not be opened
    /// or was lost, a timeout, the server shutting down or refusing connections (SQLSTATE class 08, 57P01–57P03,
    /// 53300), or the server's circuit breaker is open. These count against a server's circuit breaker.
    /// </summary>
    /// <param name="exception">The failure.</param>
    /// <returns><see langword="true"/> for a connection-level failure.</returns>
    public static bool IsConnectionFailure(Exception exception) => exception switch
    {
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal)
            || pg.SqlState is "57P01" or "57P02" or "57P03" or "53300",
        NpgsqlException => true,
        BrokenCircuitException => true,
        TimeoutException => true,
        System.Net.Sockets.SocketException => true,
        IOException => true,
        _ => false,
    };

    /// <summary>
    /// Whether <paramref name="exception"/> is a serialization failure (40001) or a deadlock (40P01): PostgreSQL
    /// rolled the transaction back, so running the whole transaction again is safe.
    /// </summary>
    /// <param name="exception">The failure.</param>
    /// <returns><see langword="true"/> for 40001 or 40P01.</returns>
    public static bool IsSerializationFailureOrDeadlock(Exception exception)
        => exception is PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected };

    /// <summary>Whether a read (always idempotent) may be retried after <paramref name="exception"/>, on another server if one is left.</summary>
    /// <param name="exception">The failure.</param>
    /// <returns><see langword="true"/> when a retry may succeed.</returns>
    public static bool IsTransient(Exception exception)
        => IsConnectionFailure(exception) || IsSerializationFailureOrDeadlock(exception);
}
