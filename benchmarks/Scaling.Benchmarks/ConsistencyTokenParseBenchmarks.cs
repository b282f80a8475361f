using BenchmarkDotNet.Attributes;
using NpgsqlTypes;
using Scaling.Data;

namespace Scaling.Benchmarks;

/// <summary>
/// Parsing a read-your-writes token from a request header, against Npgsql's own parsing of the same
/// WAL position in PostgreSQL's text form.
/// </summary>
[MemoryDiagnoser]
public class ConsistencyTokenParseBenchmarks
{
    private string _postgresText = "";
    private string _tokenText = "";

    /// <summary>The WAL position, in PostgreSQL's text form.</summary>
    [Params("0/16B3748", "16/B374D848", "FFFFFFFF/FFFFFFFF")]
    public string Lsn { get; set; } = "";

    /// <summary>Prepares both text forms of <see cref="Lsn"/>.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var lsn = NpgsqlLogSequenceNumber.Parse(Lsn);
        _postgresText = lsn.ToString();
        _tokenText = ConsistencyToken.FromLsn(lsn).ToString();
        if (ConsistencyToken.Parse(_tokenText).Lsn != NpgsqlLogSequenceNumber.Parse(_postgresText))
        {
            throw new InvalidOperationException($"'{_tokenText}' and '{_postgresText}' are not the same position.");
        }
    }

    /// <summary>Npgsql parsing PostgreSQL's text form, e.g. <c>16/B374D848</c>.</summary>
    [Benchmark(Baseline = true)]
    public NpgsqlLogSequenceNumber NpgsqlLogSequenceNumberParse() => NpgsqlLogSequenceNumber.Parse(_postgresText);

    /// <summary>Parsing the token's own text form, e.g. <c>16b374d848</c>.</summary>
    [Benchmark]
    public ConsistencyToken ConsistencyTokenParse() => ConsistencyToken.Parse(_tokenText);
}
