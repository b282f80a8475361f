namespace BookingHost.Infrastructure;

/// <summary>
/// Where socket completions run. By default .NET hands each one from the socket engine's thread to the thread pool;
/// BookingHost has them run on the engine's threads (one per core) instead, which saves a thread hop per network read
/// and write: about 10 % of a booking's CPU in the host (docs/benchmarks.md, "Cost per request, third round"). The rule
/// that comes with it: nothing on a request's path blocks or runs long on the thread it resumes on. Everything here is
/// async; password hashing, the one long computation, runs on the thread pool (<see cref="Auth.UserDirectory"/>).
/// </summary>
internal static class SocketCompletions
{
    /// <summary>The runtime's switch, read once, when the first socket is used.</summary>
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Turns inline completions on unless the variable is set already (<c>0</c> keeps .NET's default). Call it first
    /// thing in <c>Main</c>: it has no effect once a socket has been used.
    /// </summary>
    public static void PreferInline()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null)
        {
            Environment.SetEnvironmentVariable(Variable, "1");
        }
    }
}
