using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Scaling.Data;

/// <summary>
/// Times every command run on a <see cref="ReadWriteDataSource"/>'s connections — also the ones users run on
/// the connections they were handed — through Npgsql's own tracing activities: it records the command
/// duration by role and writes the slow-query log (SQL text only; parameter values are never read).
/// A batch the package runs itself (<see cref="TimedBatch"/>: a write, its commit and its token) is timed here instead
/// of through an activity, unless an application's tracer listens to Npgsql: for every traced batch Npgsql joins the
/// text of all its commands into one string before anything can decline the activity, which was the largest
/// allocation of a booking in the sample host.
/// </summary>
internal static class CommandObserver
{
    private const string PropertyName = "Scaling.Data.Command";
    private static readonly object Gate = new();
    private static ActivityListener? _listener;

    // A source of Npgsql's name that this observer does not listen to: it has listeners only while an application's
    // own tracer listens to Npgsql, and then Npgsql traces the package's own batches too.
    private static readonly ActivitySource OtherTracers = new("Npgsql");

    /// <summary>What the enrichment callback attaches to a command's activity.</summary>
    internal sealed class Tag(string dataSource, ServerRole role, string server, TimeSpan? slowThreshold, ILogger logger, Histogram<double> duration)
    {
        public string DataSource { get; } = dataSource;

        public ServerRole Role { get; } = role;

        public string Server { get; } = server;

        public TimeSpan? SlowThreshold { get; } = slowThreshold;

        public ILogger Logger { get; } = logger;

        public Histogram<double> Duration { get; } = duration;

        public TagList Tags { get; } = new() { { "data_source", dataSource }, { "role", role == ServerRole.Primary ? "primary" : "replica" } };
    }

    /// <summary>Makes the builder's commands carry <paramref name="tag"/> and makes sure the process-wide listener runs.</summary>
    public static void Attach(NpgsqlDataSourceBuilder builder, Tag tag)
    {
        EnsureListening();
        builder.ConfigureTracing(tracing => tracing
            .ConfigureBatchFilter(static batch => batch is not TimedBatch || OtherTracers.HasListeners())
            .ConfigureCommandEnrichmentCallback((activity, command) => Enrich(activity, tag, command.CommandText))
            .ConfigureBatchEnrichmentCallback((activity, batch) =>
            {
                // Timed by Record already, should an application's own tracing settings let Npgsql trace it too.
                if (batch is not TimedBatch)
                {
                    Enrich(activity, tag, batch);
                }
            }));
    }

    /// <summary>Records a <see cref="TimedBatch"/>'s duration and logs it when slow, as <see cref="OnStopped"/> does for the rest.</summary>
    /// <param name="tag">The server's tag (<see langword="null"/> when commands are not observed).</param>
    /// <param name="batch">The batch, whose text is made only when it was slow.</param>
    /// <param name="started">The <see cref="Stopwatch.GetTimestamp"/> taken before it was sent.</param>
    public static void Record(Tag? tag, NpgsqlBatch batch, long started)
    {
        if (tag is not null)
        {
            Observe(tag, Stopwatch.GetElapsedTime(started), batch);
        }
    }

    private static string BatchText(NpgsqlBatch batch)
    {
        var texts = new string[batch.BatchCommands.Count];
        for (var i = 0; i < texts.Length; i++)
        {
            texts[i] = batch.BatchCommands[i].CommandText;
        }

        return string.Join("; ", texts);
    }

    // The SQL text (a string, or the batch whose text is made only when the slow-query log needs it).
    private static void Enrich(Activity activity, Tag tag, object commandText)
    {
        activity.SetCustomProperty(PropertyName, (tag, commandText));
    }

    private static void EnsureListening()
    {
        if (Volatile.Read(ref _listener) is not null)
        {
            return;
        }

        lock (Gate)
        {
            if (_listener is not null)
            {
                return;
            }

            var listener = new ActivityListener
            {
                ShouldListenTo = static source => source.Name == "Npgsql" && !ReferenceEquals(source, OtherTracers),
                // The duration and the enrichment callbacks are all it needs: without a tracer that asks for more,
                // Npgsql then leaves out its tags (SQL text, server, connection id) on every command.
                Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
                ActivityStopped = OnStopped,
            };
            ActivitySource.AddActivityListener(listener);
            Volatile.Write(ref _listener, listener);
        }
    }

    private static void OnStopped(Activity activity)
    {
        if (activity.GetCustomProperty(PropertyName) is not ValueTuple<Tag, object> (var tag, var commandText))
        {
            return;
        }

        Observe(tag, activity.Duration, commandText);
    }

    private static void Observe(Tag tag, TimeSpan duration, object commandText)
    {
        tag.Duration.Record(duration.TotalSeconds, tag.Tags);
        if (tag.SlowThreshold is { } threshold && duration > threshold)
        {
            DataLog.SlowQuery(tag.Logger, tag.DataSource, tag.Role, tag.Server, (long)duration.TotalMilliseconds, commandText as string ?? BatchText((NpgsqlBatch)commandText));
        }
    }
}
