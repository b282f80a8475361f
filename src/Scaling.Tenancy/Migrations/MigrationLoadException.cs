namespace Scaling.Tenancy.Migrations;

/// <summary>
/// A set of migrations could not be loaded: a file or resource is badly named, has an unknown directive or no scope,
/// or two of them have the same version. The message names the file(s) or resource(s).
/// </summary>
public sealed class MigrationLoadException : Exception
{
    /// <summary>Initializes a new instance.</summary>
    public MigrationLoadException()
        : this("The migrations could not be loaded.")
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    public MigrationLoadException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public MigrationLoadException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="location">The file path or resource name at fault.</param>
    /// <param name="message">The message (it names <paramref name="location"/>).</param>
    /// <param name="innerException">The cause, if any.</param>
    public MigrationLoadException(string? location, string message, Exception? innerException)
        : base(message, innerException) => Location = location;

    /// <summary>The file path or resource name at fault, when there is one.</summary>
    public string? Location { get; }
}
