namespace Scaling.Data;

/// <summary>The outcome of a committed write: the work's value and the consistency token for later reads.</summary>
/// <typeparam name="T">The type of the work's value.</typeparam>
/// <param name="Value">What the work returned.</param>
/// <param name="Token">
/// The primary's WAL position after the commit: carry it with the next reads so they see this write. It is
/// <see langword="null"/> only in the rare case that the position could not be read after the commit (the
/// connection broke right after it); the write is committed all the same, and the caller should then read from
/// the primary (e.g. with <see cref="ReadWriteDataSource.OpenWriteConnectionAsync"/>) for a while.
/// </param>
public readonly record struct WriteResult<T>(T Value, ConsistencyToken? Token);
