using System.Diagnostics;

namespace Scaling.Testing;

/// <summary>Runs short-lived programs (initdb, pg_basebackup, chown, cp) to completion.</summary>
internal static class CommandRunner
{
    /// <summary>The user PostgreSQL runs as when the harness runs as root.</summary>
    public const string PostgresUser = "postgres";

    /// <summary>
    /// The argument list for a PostgreSQL program: as root it goes through
    /// <c>runuser -u postgres --</c> because PostgreSQL refuses to run as root.
    /// </summary>
    public static IReadOnlyList<string> AsPostgresUser(string program, IEnumerable<string> arguments) =>
        Posix.IsRoot
            ? ["runuser", "-u", PostgresUser, "--", program, .. arguments]
            : [program, .. arguments];

    /// <summary>Runs a command and returns its output; a non-zero exit ends with a <see cref="TestServerException"/>.</summary>
    public static async Task<string> RunAsync(IReadOnlyList<string> command, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in command.Skip(1))
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new TestServerException($"'{command[0]}' could not be started: {ex.Message}.", ex);
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TestServerException($"'{string.Join(' ', command)}' did not finish within {timeout.TotalSeconds:0} s and was killed.");
        }

        var output = await stdout + await stderr;
        if (process.ExitCode != 0)
        {
            throw new TestServerException(
                $"'{string.Join(' ', command)}' failed with exit code {process.ExitCode}: {Tail(output, 800)}");
        }

        return output;
    }

    /// <summary>The last <paramref name="maxChars"/> characters of a text, on one line.</summary>
    public static string Tail(string text, int maxChars)
    {
        var tail = text.Length > maxChars ? "…" + text[^maxChars..] : text;
        return tail.ReplaceLineEndings(" | ").Trim();
    }
}
