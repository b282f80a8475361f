using Microsoft.Extensions.Logging;
using Npgsql;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Scaling.Data;

/// <summary>Construction of the servers and the Polly pipelines.</summary>
public sealed partial class ReadWriteDataSource
{
    private DataServer CreateServer(string connectionString, ServerRole role, ILoggerFactory loggerFactory)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.ConnectionStringBuilder.CommandTimeout = (int)_options.CommandTimeout.TotalSeconds;
        builder.ConnectionStringBuilder.Timeout = (int)_options.ConnectTimeout.TotalSeconds;
        builder.UseLoggerFactory(loggerFactory);
        var name = $"{builder.ConnectionStringBuilder.Host}:{builder.ConnectionStringBuilder.Port}";
        var commandTag = _options.ObserveCommands ? new CommandObserver.Tag(Name, role, name, _options.SlowQueryThreshold, _logger, _instruments.CommandDuration) : null;
        if (commandTag is not null)
        {
            CommandObserver.Attach(builder, commandTag);
        }

        _options.ConfigureDataSource?.Invoke(builder, role);
        var dataSource = builder.Build();

        // The probes' own pool: two connections (one may still be held by an abandoned probe), with open and command
        // timeouts of about the probe timeout, so that an abandoned probe ends by itself.
        var probeSeconds = Math.Max(1, (int)Math.Ceiling(_options.HealthCheckTimeout.TotalSeconds));
        builder.ConnectionStringBuilder.MinPoolSize = 0;
        builder.ConnectionStringBuilder.MaxPoolSize = 2;
        builder.ConnectionStringBuilder.Timeout = probeSeconds;
        builder.ConnectionStringBuilder.CommandTimeout = probeSeconds;
        builder.ConnectionStringBuilder.ApplicationName = (builder.ConnectionStringBuilder.ApplicationName is { Length: > 0 } app ? app + " " : string.Empty) + "(health probe)";
        var probeDataSource = builder.Build();

        var state = new CircuitBreakerStateProvider();
        var control = new CircuitBreakerManualControl();
        var breaker = new ResiliencePipelineBuilder()
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = _options.CircuitBreakerFailureRatio,
                MinimumThroughput = _options.CircuitBreakerMinimumThroughput,
                SamplingDuration = _options.CircuitBreakerSamplingDuration,
                BreakDuration = _options.CircuitBreakerBreakDuration,
                StateProvider = state,
                ManualControl = control,
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => TransientErrors.IsConnectionFailure(e) && e is not BrokenCircuitException),
                OnOpened = args =>
                {
                    DataLog.CircuitOpened(_logger, Name, name, args.BreakDuration.TotalMilliseconds);
                    return default;
                },
            })
            .Build();
        var connection = builder.ConnectionStringBuilder;
        return new DataServer(connection.Host ?? string.Empty, connection.Port, connection.Database, role, dataSource, probeDataSource, breaker, state, control, commandTag);
    }

    private ResiliencePipeline BuildRetry(string operation, Func<Exception, bool> shouldRetry)
    {
        if (_options.MaxRetryAttempts == 0)
        {
            return ResiliencePipeline.Empty;
        }

        return new ResiliencePipelineBuilder()
            .AddRetry(RetryOptions(operation, args => args.Outcome.Exception is { } e && shouldRetry(e)))
            .Build();
    }

    /// <summary>
    /// A write is retried when it failed before anything was sent (the open), when PostgreSQL rolled it back
    /// (40001, 40P01), or — only if the caller said it is idempotent — when the connection was lost during it.
    /// Nothing is retried once the commit has returned.
    /// </summary>
    private ResiliencePipeline BuildWriteRetry(bool idempotent)
    {
        if (_options.MaxRetryAttempts == 0)
        {
            return ResiliencePipeline.Empty;
        }

        return new ResiliencePipelineBuilder()
            .AddRetry(RetryOptions("write", args =>
            {
                if (args.Outcome.Exception is not { } e)
                {
                    return false;
                }

                return args.Context.Properties.GetValue(PhaseKey, WritePhase.Open) switch
                {
                    WritePhase.Open => TransientErrors.IsConnectionFailure(e) && e is not BrokenCircuitException,
                    WritePhase.Transaction => TransientErrors.IsSerializationFailureOrDeadlock(e)
                        || (idempotent && TransientErrors.IsConnectionFailure(e) && e is not BrokenCircuitException),
                    _ => false,
                };
            }))
            .Build();
    }

    private RetryStrategyOptions RetryOptions(string operation, Func<RetryPredicateArguments<object>, bool> shouldRetry) => new()
    {
        MaxRetryAttempts = _options.MaxRetryAttempts,
        Delay = _options.RetryBaseDelay,
        BackoffType = DelayBackoffType.Exponential,
        UseJitter = true,
        ShouldHandle = args => ValueTask.FromResult(
            !args.Context.CancellationToken.IsCancellationRequested
            && args.Outcome.Exception is not (ReadCapacityExceededException or PrimaryUnavailableException)
            && shouldRetry(args)),
        OnRetry = args =>
        {
            _instruments.Retries.Add(1, DataInstruments.Tags(Name, "operation", operation));
            DataLog.Retrying(_logger, Name, operation, args.AttemptNumber + 1, args.RetryDelay.TotalMilliseconds, args.Outcome.Exception?.Message ?? "no exception");
            return default;
        },
    };
}
