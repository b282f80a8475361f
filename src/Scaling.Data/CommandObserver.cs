using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Scaling.Data;

/// <summary>
/// Times every command run on a <see cref="ReadWriteDataSource"/>'s connections — also the ones users run on
/// the connections they were handed — through Npgsql's own tracing activities: it records the command
/// duration by role and writes the slow-query log (SQL text only; parameter values are never read).
/// </summary>
internal static class CommandObserver
{
    private const string PropertyName = "Scaling.Data.Command";
    private static readonly object Gate = new();
    private static ActivityListener? _listener;

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
            .ConfigureCommandEnrichmentCallback((activity, command) => Enrich(activity, tag, command.CommandText))
            .ConfigureBatchEnrichmentCallback((activity, batch) => Enrich(activity, tag, batch)));
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
                ShouldListenTo = source => source.Name == "Npgsql",
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

        var duration = activity.Duration;
        tag.Duration.Record(duration.TotalSeconds, tag.Tags);
        if (tag.SlowThreshold is { } threshold && duration > threshold)
        {
            DataLog.SlowQuery(tag.Logger, tag.DataSource, tag.Role, tag.Server, (long)duration.TotalMilliseconds, commandText as string ?? BatchText((NpgsqlBatch)commandText));
        }
    }
}
