using System.Globalization;
using System.Net;

namespace Scaling.LoadTest;

/// <summary>The operations of the scenario mix.</summary>
internal enum Operation
{
    /// <summary><c>GET /availability</c> (anonymous, cached).</summary>
    Availability,

    /// <summary><c>POST /bookings</c> with an <c>Idempotency-Key</c>; some aimed at popular slots (409 expected).</summary>
    Book,

    /// <summary><c>GET /bookings</c> carrying the account's last consistency token (read-your-writes checked).</summary>
    List,

    /// <summary>Walk-in queue: issue a token, call the next one (staff) or read the snapshot.</summary>
    Queue,

    /// <summary><c>POST /auth/login</c> (a password hash check: the most CPU-hungry request).</summary>
    Login,
}

/// <summary>Command-line settings of a run, validated by <see cref="Parse"/>.</summary>
internal sealed record LoadTestOptions
{
    public const string Usage = """
        usage: LoadTest [options]
          --clients N          concurrent clients: each has one request in flight (closed loop) or, with --rate,
                               the most requests in flight at once (open loop)                        [1000]
          --duration T         measured time, e.g. 60s, 2m (a pause run: what its pauses need)      [60s]
          --warmup T           load before the measured time (not in the figures)                     [10s]
          --rate N             open loop: start N requests/s on schedule, whatever the answers;
                               latency counts from the scheduled start (0 = closed loop)             [0]
          --think T            closed loop: pause between one client's requests                       [0s]
          --sse N              open event streams (Server-Sent Events) measuring delivery latency     [2000]
          --tenants N          businesses, spread over both shards                                    [20]
          --resources N        bookable resources per business                                        [5]
          --accounts N         customer accounts, signed in at the start and shared by the clients    [200]
          --mix LIST           relative weights; operations left out get 0
                               [availability=600,book=200,list=100,queue=98,login=2]
          --hot F              share of bookings aimed at a few popular slots (contention), 0..1      [0.2]
          --instances N        BookingHost instances behind nginx, 1..4                               [2]
          --fault              kill shard 1's replica and restart it, then kill one Redis master and
                               restart it, during the measured time
          --fault-kind K       kill (above), or pause: pause (SIGSTOP) each server in turn (shard 1's replica,
                               each shard primary, the metadata database, each Redis master, nginx) for
                               --pause-for, then resume it and let it recover; implies --fault        [kill]
          --pause-for T        how long the pause run pauses each server                              [60s]
          --pause-only LIST    the servers the pause run pauses, of replica, primary1, primary2,
                               metadata, redis1, redis2, redis3, nginx (comma-separated)              [all]
          --fault-redis N      the Redis master the fault run kills: 1 (also cache, rate limits,
                               idempotency, events), 2 or 3 (lock quorum only)                       [1]
          --redis-cluster      the shared Redis (cache, rate limits, idempotency, revocation, events,
                               shard-map push) is a Redis Cluster of 3 masters with a replica each; the
                               Redlock masters stay independent. With --fault, a cluster master is killed
                               (its replica takes over) and rejoins as a replica (kill runs only)
          --pin-hosts          pin each BookingHost instance to a core of its own (taskset): instance 1
                               on core 0, instance 2 on core 1; the servers and nginx are not pinned
          --request-timeout T  a request that takes longer counts as a timeout error                  [10s]
          --address A          the loopback address nginx and the hosts listen on                     [127.0.0.1]
          --out DIR            results folder                          [artifacts/loadtest/<UTC time>]
          --smoke              CI size: 20 clients, 5 s, 1 s warm-up, 40 streams, 4 tenants, 12 accounts,
                               5 % logins; an unexpected answer or an operation that never ran fails
                               the run (options given as well override these)
          --help               this text
        Exit codes: 0 all invariants held, 1 an invariant broke or the run failed, 2 bad arguments,
        3 the environment is missing something (nginx, a build).
        """;

    public int Clients { get; init; } = 1000;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Requests per second in total (open loop); 0 for closed loop.</summary>
    public double Rate { get; init; }

    public TimeSpan Think { get; init; } = TimeSpan.Zero;

    public int EventStreams { get; init; } = 2000;

    public int Tenants { get; init; } = 20;

    public int Resources { get; init; } = 5;

    public int Accounts { get; init; } = 200;

    public IReadOnlyDictionary<Operation, int> Mix { get; init; } = DefaultMix;

    public double Hot { get; init; } = 0.2;

    public int Instances { get; init; } = 2;

    public bool Fault { get; init; }

    /// <summary>Kill and restart, or pause and resume.</summary>
    public FaultKind FaultKind { get; init; } = FaultKind.Kill;

    /// <summary>How long the pause run pauses each server.</summary>
    public TimeSpan PauseFor { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The keys of the servers the pause run pauses (<see cref="FaultPlan.PauseTargets"/>), in the run's order.</summary>
    public IReadOnlyList<string> PauseOnly { get; init; } = FaultPlan.PauseTargets.Select(t => t.Key).ToArray();

    /// <summary>1-based index of the Redis master the fault run kills.</summary>
    public int FaultRedis { get; init; } = 1;

    /// <summary>The shared Redis is a Redis Cluster (the fault run then kills one of its masters).</summary>
    public bool RedisCluster { get; init; }

    /// <summary>Each BookingHost instance runs pinned to one core of its own (instance i on core i − 1, with <c>taskset</c>).</summary>
    public bool PinHosts { get; init; }

    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public IPAddress Address { get; init; } = IPAddress.Loopback;

    public string? OutputDirectory { get; init; }

    /// <summary>Any request error fails the run (the CI smoke run).</summary>
    public bool FailOnErrors { get; init; }

    public bool Smoke { get; init; }

    public bool Help { get; init; }

    public bool OpenLoop => Rate > 0;

    public static IReadOnlyDictionary<Operation, int> DefaultMix { get; } = new Dictionary<Operation, int>
    {
        [Operation.Availability] = 600,
        [Operation.Book] = 200,
        [Operation.List] = 100,
        [Operation.Queue] = 98,
        [Operation.Login] = 2,
    };

    private static readonly HashSet<string> ValueOptions =
    [
        "--clients", "--duration", "--warmup", "--rate", "--think", "--sse", "--tenants", "--resources", "--accounts", "--mix", "--hot",
        "--instances", "--fault-redis", "--fault-kind", "--pause-for", "--pause-only", "--request-timeout", "--address", "--out",
    ];

    /// <summary>Parses and validates the command line; throws <see cref="ArgumentException"/> with a message for the user.</summary>
    public static LoadTestOptions Parse(IReadOnlyList<string> args)
    {
        var options = new LoadTestOptions();
        if (args.Contains("--smoke"))
        {
            options = options with
            {
                Smoke = true,
                Clients = 20,
                Duration = TimeSpan.FromSeconds(5),
                Warmup = TimeSpan.FromSeconds(1),
                EventStreams = 40,
                Tenants = 4,
                Resources = 2,
                Accounts = 12,
                FailOnErrors = true,
                // Every operation must run in a few seconds, so logins get a bigger share than in a measured run.
                Mix = new Dictionary<Operation, int>
                {
                    [Operation.Availability] = 50,
                    [Operation.Book] = 25,
                    [Operation.List] = 10,
                    [Operation.Queue] = 10,
                    [Operation.Login] = 5,
                },
            };
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (!name.StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"Unexpected argument '{name}': options start with '--' (see --help).");
            }

            if (!seen.Add(name))
            {
                throw new ArgumentException($"Option '{name}' is given twice.");
            }

            switch (name)
            {
                case "--smoke":
                    continue;
                case "--help" or "-h":
                    return options with { Help = true };
                case "--fault":
                    options = options with { Fault = true };
                    continue;
                case "--redis-cluster":
                    options = options with { RedisCluster = true };
                    continue;
                case "--pin-hosts":
                    options = options with { PinHosts = true };
                    continue;
            }

            if (!ValueOptions.Contains(name))
            {
                throw new ArgumentException($"Unknown option '{name}' (see --help).");
            }

            if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"Option '{name}' needs a value (see --help).");
            }

            var value = args[++i];
            options = name switch
            {
                "--clients" => options with { Clients = Int(name, value, 1, 100_000) },
                "--duration" => options with { Duration = Time(name, value, TimeSpan.FromSeconds(1), TimeSpan.FromHours(24)) },
                "--warmup" => options with { Warmup = Time(name, value, TimeSpan.Zero, TimeSpan.FromHours(1)) },
                "--rate" => options with { Rate = Number(name, value, 0, 1_000_000) },
                "--think" => options with { Think = Time(name, value, TimeSpan.Zero, TimeSpan.FromMinutes(10)) },
                "--sse" => options with { EventStreams = Int(name, value, 0, 50_000) },
                "--tenants" => options with { Tenants = Int(name, value, 2, 10_000) },
                "--resources" => options with { Resources = Int(name, value, 1, 100) },
                "--accounts" => options with { Accounts = Int(name, value, 1, 100_000) },
                "--mix" => options with { Mix = ParseMix(value) },
                "--hot" => options with { Hot = Number(name, value, 0, 1) },
                "--instances" => options with { Instances = Int(name, value, 1, 4) },
                "--fault-redis" => options with { FaultRedis = Int(name, value, 1, 3) },
                "--fault-kind" => options with
                {
                    Fault = true,
                    FaultKind = value switch
                    {
                        "kill" => FaultKind.Kill,
                        "pause" => FaultKind.Pause,
                        _ => throw new ArgumentException($"Option '--fault-kind' is 'kill' or 'pause', not '{value}'."),
                    },
                },
                "--pause-for" => options with { PauseFor = Time(name, value, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(10)) },
                "--pause-only" => options with { PauseOnly = FaultPlan.ParseTargets(value) },
                "--request-timeout" => options with { RequestTimeout = Time(name, value, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)) },
                "--address" => options with { Address = Loopback(value) },
                "--out" => options with { OutputDirectory = value.Length > 0 ? value : throw new ArgumentException("Option '--out' needs a folder.") },
                _ => throw new ArgumentException($"Unknown option '{name}' (see --help)."),
            };
        }

        if (options.FaultKind == FaultKind.Pause && !seen.Contains("--duration"))
        {
            options = options with { Duration = FaultPlan.PauseRunDuration(options.PauseFor, options.PauseOnly.Count) }; // every pause and its recovery
        }

        if (options.FaultKind == FaultKind.Pause && options.Duration < FaultPlan.PauseRunDuration(options.PauseFor, options.PauseOnly.Count))
        {
            throw new ArgumentException($"A pause run pauses {options.PauseOnly.Count} servers in turn for {options.PauseFor.TotalSeconds:0} s each, with a recovery stretch after each: it needs --duration of at least {Math.Ceiling(FaultPlan.PauseRunDuration(options.PauseFor, options.PauseOnly.Count).TotalSeconds):0}s.");
        }

        foreach (var pauseOption in new[] { "--pause-for", "--pause-only" })
        {
            if (seen.Contains(pauseOption) && options.FaultKind != FaultKind.Pause)
            {
                throw new ArgumentException($"Option '{pauseOption}' only applies to a pause run (--fault-kind pause).");
            }
        }

        if (options.Fault && options.Duration < TimeSpan.FromSeconds(10))
        {
            throw new ArgumentException("A fault run (--fault) needs --duration of at least 10s: the faults are spread over it.");
        }

        if (seen.Contains("--fault-redis") && !options.Fault)
        {
            throw new ArgumentException("Option '--fault-redis' only applies to a fault run (--fault).");
        }

        if (options.PinHosts && options.Instances > Environment.ProcessorCount)
        {
            throw new ArgumentException($"Option '--pin-hosts' needs a core per instance: {options.Instances} instances, {Environment.ProcessorCount} cores.");
        }

        if (options.RedisCluster && seen.Contains("--fault-redis"))
        {
            throw new ArgumentException("Option '--fault-redis' names one of the independent Redis masters; with --redis-cluster the fault run kills a cluster master instead.");
        }

        if (options.RedisCluster && options.FaultKind == FaultKind.Pause)
        {
            throw new ArgumentException("A pause run (--fault-kind pause) is not supported with --redis-cluster yet; use the kill run (--fault).");
        }

        if (seen.Contains("--think") && options.OpenLoop)
        {
            throw new ArgumentException("Option '--think' is for closed loop; an open-loop run (--rate) paces itself.");
        }

        return options;
    }

    /// <summary>Parses a duration: a number with a unit <c>ms</c>, <c>s</c>, <c>m</c> or <c>h</c>.</summary>
    public static TimeSpan ParseTime(string value)
    {
        var text = value.Trim();
        var (unit, scale) = text.EndsWith("ms", StringComparison.Ordinal) ? ("ms", 0.001)
            : text.EndsWith('s') ? ("s", 1.0)
            : text.EndsWith('m') ? ("m", 60.0)
            : text.EndsWith('h') ? ("h", 3600.0)
            : (string.Empty, double.NaN);
        if (double.IsNaN(scale)
            || !double.TryParse(text[..^unit.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            throw new FormatException($"'{value}' is not a duration: write a number and a unit, e.g. 500ms, 30s, 2m, 1h.");
        }

        return TimeSpan.FromSeconds(number * scale);
    }

    private static int Int(string name, string value, int min, int max)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < min || number > max)
        {
            throw new ArgumentException($"Option '{name}' must be a whole number from {min} to {max}; got '{value}'.");
        }

        return number;
    }

    private static double Number(string name, string value, double min, double max)
    {
        if (!double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number) || number < min || number > max)
        {
            throw new ArgumentException($"Option '{name}' must be a number from {min} to {max}; got '{value}'.");
        }

        return number;
    }

    private static TimeSpan Time(string name, string value, TimeSpan min, TimeSpan max)
    {
        TimeSpan time;
        try
        {
            time = ParseTime(value);
        }
        catch (FormatException ex)
        {
            throw new ArgumentException($"Option '{name}': {ex.Message}");
        }

        if (time < min || time > max)
        {
            throw new ArgumentException($"Option '{name}' must be from {min.TotalSeconds:0.###}s to {max.TotalSeconds:0.###}s; got '{value}'.");
        }

        return time;
    }

    private static IPAddress Loopback(string value)
    {
        if (!IPAddress.TryParse(value, out var address))
        {
            throw new ArgumentException($"Option '--address' must be an IP address on the loopback interface (e.g. 127.0.0.1); got '{value}'. Host names are not accepted.");
        }

        if (!IPAddress.IsLoopback(address))
        {
            throw new ArgumentException($"Option '--address' must be a loopback address (127.0.0.0/8 or ::1): the load test only ever targets this machine; got '{value}'.");
        }

        return address;
    }

    private static Dictionary<Operation, int> ParseMix(string value)
    {
        var mix = Enum.GetValues<Operation>().ToDictionary(op => op, _ => 0);
        foreach (var part in value.Split(',', StringSplitOptions.TrimEntries))
        {
            var pair = part.Split('=', 2, StringSplitOptions.TrimEntries);
            if (pair.Length != 2 || !Enum.TryParse<Operation>(pair[0], ignoreCase: true, out var op) || !Enum.IsDefined(op) || int.TryParse(pair[0], out _))
            {
                throw new ArgumentException($"Option '--mix': '{part}' is not operation=weight; operations are {string.Join(", ", Enum.GetNames<Operation>().Select(n => n.ToLowerInvariant()))}.");
            }

            if (!int.TryParse(pair[1], NumberStyles.None, CultureInfo.InvariantCulture, out var weight) || weight > 1_000_000)
            {
                throw new ArgumentException($"Option '--mix': the weight of '{pair[0]}' must be a whole number from 0 to 1000000; got '{pair[1]}'.");
            }

            mix[op] = weight;
        }

        if (mix.Values.Sum() == 0)
        {
            throw new ArgumentException("Option '--mix': at least one operation needs a weight above 0.");
        }

        return mix;
    }
}
