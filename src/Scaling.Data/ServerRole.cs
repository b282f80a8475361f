namespace Scaling.Data;

/// <summary>The role a server plays in a <see cref="ReadWriteDataSource"/>.</summary>
public enum ServerRole
{
    /// <summary>The primary: takes every write, and reads that no replica can serve.</summary>
    Primary,

    /// <summary>A streaming replica: takes reads while it is healthy and close enough to the primary.</summary>
    Replica,
}
