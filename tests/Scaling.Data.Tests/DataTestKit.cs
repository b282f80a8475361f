using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Npgsql;
using Scaling.Testing;

namespace Scaling.Data.Tests;

/// <summary>Builds data sources over the test servers, and collects logs and metrics for assertions.</summary>
internal static class DataTestKit
{
    /// <summary>Options over shard 1 (primary + its replica) with a fast health cadence for tests.</summary>
    public static ScalingDataOptions Shard1(Testing.TestServers servers, Action<ScalingDataOptions>? configure = null)
    {
        var options = new ScalingDataOptions
        {
            Name = "t" + Guid.NewGuid().ToString("N")[..10],
            PrimaryConnectionString = servers.Shard1Primary.ConnectionString(),
            HealthCheckInterval = TimeSpan.FromMilliseconds(200),
            HealthCheckTimeout = TimeSpan.FromSeconds(3),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            CommandTimeout = TimeSpan.FromSeconds(10),
            ReadmitAfterHealthyChecks = 2,
        };
        options.ReplicaConnectionStrings.Add(servers.Shard1Replica.ConnectionString());
        configure?.Invoke(options);
        return options;
    }

    /// <summary>Replaces the replicas with one that refuses connections.</summary>
    public static void OnlyAnUnreachableReplica(ScalingDataOptions options)
    {
        options.ReplicaConnectionStrings.Clear();
        options.ReplicaConnectionStrings.Add(ClosedPortConnectionString());
    }

    /// <summary>A connection string to a loopback port nothing listens on (connection refused).</summary>
    public static string ClosedPortConnectionString()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"Host=127.0.0.1;Port={port};Username=postgres;Database=scaling";
    }

    /// <summary>The port of the server a connection is on, as the server itself reports it.</summary>
    public static async Task<int> ServerPortAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("SELECT inet_server_port()", connection);
        return (int)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Creates a table on shard 1's primary and waits until the replica has it.</summary>
    public static async Task<string> CreateReplicatedTableAsync(Testing.TestServers servers, string columns)
    {
        var table = "d_" + Guid.NewGuid().ToString("N")[..12];
        await servers.Shard1Primary.ExecuteAsync($"CREATE TABLE {table} ({columns})");
        await Eventually.TrueAsync(
            async () => await servers.Shard1Replica.ScalarAsync<long>($"SELECT count(*) FROM pg_tables WHERE tablename = '{table}'") == 1,
            TimeSpan.FromSeconds(30),
            $"table {table} to reach the replica");
        return table;
    }
}

/// <summary>A logger provider that keeps every message (a real logger, for asserting on what was logged).</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<(string Category, LogLevel Level, string Message)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => owner.Entries.Enqueue((category, logLevel, formatter(state, exception)));
    }
}

/// <summary>Listens to the Scaling.Data meter and keeps measurements of one data source.</summary>
internal sealed class DataMetricsCollector : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly string _dataSource;

    public DataMetricsCollector(string dataSource)
    {
        _dataSource = dataSource;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Scaling.Data")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    public ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)> Measurements { get; } = new();

    public void Observe() => _listener.RecordObservableInstruments();

    public double Sum(string instrument, string? tag = null, object? value = null)
        => Measurements.Where(m => m.Instrument == instrument && (tag is null || Equals(m.Tags.GetValueOrDefault(tag), value))).Sum(m => m.Value);

    public void Dispose() => _listener.Dispose();

    private void Record<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var dictionary = new Dictionary<string, object?>();
        foreach (var tag in tags)
        {
            dictionary[tag.Key] = tag.Value;
        }

        if (Equals(dictionary.GetValueOrDefault("data_source"), _dataSource))
        {
            Measurements.Enqueue((instrument.Name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), dictionary));
        }
    }
}
