namespace Scaling.Testing;

/// <summary>What a test server is doing, as far as the harness made it so.</summary>
public enum ServerState
{
    /// <summary>Not running: never started, stopped, or killed.</summary>
    Stopped,

    /// <summary>Running and answering.</summary>
    Running,

    /// <summary>Every process of the server is suspended with SIGSTOP: connections hang, nothing answers.</summary>
    Paused,
}
