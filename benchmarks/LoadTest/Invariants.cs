using Npgsql;
using NpgsqlTypes;

namespace Scaling.LoadTest;

/// <summary>One invariant's outcome: what was checked, how many rows broke it, and examples.</summary>
internal sealed record InvariantResult(string Name, long Checked, long Violations, string Detail)
{
    public bool Holds => Violations == 0;
}

/// <summary>
/// The run's invariants, checked directly in every shard's primary (as a superuser, so row-level security hides
/// nothing): no two active bookings of a resource overlap; every booking acknowledged with 201 exists exactly once and
/// no request made two; queue numbers are unique and gapless per location and day, every acknowledged token is there;
/// no reminder job is missing or lost.
/// </summary>
internal static class Invariants
{
    public static async Task<IReadOnlyList<InvariantResult>> CheckAsync(
        IReadOnlyList<string> shardConnectionStrings,
        IReadOnlyCollection<AcknowledgedBooking> bookings,
        IReadOnlyCollection<AcknowledgedToken> tokens,
        IReadOnlyCollection<string> tenants,
        CancellationToken cancellationToken)
    {
        var tenantIds = tenants.ToArray();
        var results = new List<InvariantResult>();
        var overlaps = 0L;
        var active = 0L;
        var found = new Dictionary<Guid, int>();
        var duplicateRequests = 0L;
        var unacknowledged = 0L;
        var gaps = 0L;
        var sequences = 0L;
        var issuedTokens = new HashSet<(string, string, DateOnly, int)>();
        var missingJobs = 0L;
        var expectedJobs = 0L;
        var lostJobs = 0L;
        var jobs = 0L;
        var examples = new List<string>();
        var acknowledgedNotes = bookings.Select(b => b.Notes).ToHashSet(StringComparer.Ordinal);

        foreach (var connectionString in shardConnectionStrings)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);

            // 1. No overlap among the active bookings of one resource, on the bookings themselves (not only the slot table
            //    whose constraint enforces it).
            active += await ScalarAsync(connection, "SELECT count(*) FROM bookings WHERE tenant_id = ANY($1) AND status <> 'cancelled'", tenantIds, cancellationToken);
            await using (var command = new NpgsqlCommand("""
                SELECT a.tenant_id, a.resource_id, a.id, b.id, a.starts_at
                FROM bookings a JOIN bookings b
                  ON a.tenant_id = b.tenant_id AND a.resource_id = b.resource_id AND a.id < b.id
                 AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
                WHERE a.tenant_id = ANY($1) AND a.status <> 'cancelled' AND b.status <> 'cancelled'
                """, connection))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = tenantIds });
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    overlaps++;
                    Example(examples, $"overlap: {reader.GetString(0)} resource {reader.GetGuid(1)}: bookings {reader.GetGuid(2)} and {reader.GetGuid(3)} at {reader.GetDateTime(4):u}");
                }
            }

            // 2. Every acknowledged booking is here once (counted over all shards below); no request wrote two.
            await using (var command = new NpgsqlCommand("SELECT id, count(*) FROM bookings WHERE id = ANY($1) GROUP BY id", connection))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = bookings.Select(b => b.Id).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Uuid });
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    var id = reader.GetGuid(0);
                    found[id] = found.GetValueOrDefault(id) + (int)reader.GetInt64(1);
                }
            }

            await using (var command = new NpgsqlCommand("SELECT notes, count(*) FROM bookings WHERE tenant_id = ANY($1) AND notes LIKE 'lt:%' GROUP BY notes", connection))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = tenantIds });
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    var notes = reader.GetString(0);
                    var count = reader.GetInt64(1);
                    if (count > 1)
                    {
                        duplicateRequests++;
                        Example(examples, $"duplicate: request {notes} made {count} bookings");
                    }

                    if (!acknowledgedNotes.Contains(notes))
                    {
                        unacknowledged++;
                    }
                }
            }

            // 3. Queue numbers: per location and day 1..n with no gap and no repeat, and the counter at n.
            await using (var command = new NpgsqlCommand("""
                SELECT t.tenant_id, t.location, t.day, count(*), count(DISTINCT t.number), min(t.number), max(t.number), max(c.last_number)
                FROM queue_tokens t LEFT JOIN queue_counters c USING (tenant_id, location, day)
                WHERE t.tenant_id = ANY($1)
                GROUP BY t.tenant_id, t.location, t.day
                """, connection))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = tenantIds });
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    sequences++;
                    var (count, distinct, min, max) = (reader.GetInt64(3), reader.GetInt64(4), reader.GetInt32(5), reader.GetInt32(6));
                    var counter = reader.IsDBNull(7) ? -1 : reader.GetInt32(7);
                    if (count != distinct || min != 1 || max != count || counter != max)
                    {
                        gaps++;
                        Example(examples, $"queue: {reader.GetString(0)}/{reader.GetString(1)} {reader.GetDateTime(2):yyyy-MM-dd}: {count} tokens, {distinct} distinct, {min}..{max}, counter {counter}");
                    }
                }
            }

            await using (var command = new NpgsqlCommand("SELECT tenant_id, location, day, number FROM queue_tokens WHERE tenant_id = ANY($1)", connection))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = tenantIds });
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    issuedTokens.Add((reader.GetString(0), reader.GetString(1), DateOnly.FromDateTime(reader.GetDateTime(2)), reader.GetInt32(3)));
                }
            }

            // 4. Reminders: each active booking far enough ahead has its 24 h and 1 h jobs (pending, sent or dead-lettered);
            //    a sent job has its delivery; no due job is left unclaimed by the workers.
            const string Expected = """
                FROM bookings b
                CROSS JOIN (VALUES ('24h', interval '24 hours'), ('1h', interval '1 hour')) AS k (kind, lead)
                WHERE b.tenant_id = ANY($1) AND b.status <> 'cancelled' AND b.starts_at - k.lead > b.created_at + interval '10 seconds'
                """;
            expectedJobs += await ScalarAsync(connection, "SELECT count(*) " + Expected, tenantIds, cancellationToken);
            missingJobs += await ScalarAsync(connection, "SELECT count(*) " + Expected + """
                  AND NOT EXISTS (SELECT 1 FROM reminder_jobs j WHERE j.tenant_id = b.tenant_id AND j.booking_id = b.id AND j.kind = k.kind
                                  AND j.status IN ('pending', 'sent', 'dead'))
                """, tenantIds, cancellationToken);
            jobs += await ScalarAsync(connection, "SELECT count(*) FROM reminder_jobs WHERE tenant_id = ANY($1)", tenantIds, cancellationToken);
            lostJobs += await ScalarAsync(connection, """
                SELECT count(*) FROM reminder_jobs j
                WHERE j.tenant_id = ANY($1)
                  AND ((j.status = 'sent' AND NOT EXISTS (SELECT 1 FROM reminder_deliveries d WHERE d.tenant_id = j.tenant_id AND d.job_id = j.id))
                    OR (j.status = 'pending' AND j.next_attempt_at < now() - interval '2 minutes'))
                """, tenantIds, cancellationToken);
        }

        var lost = bookings.Count(b => found.GetValueOrDefault(b.Id) == 0);
        var doubled = bookings.Count(b => found.GetValueOrDefault(b.Id) > 1);
        foreach (var booking in bookings.Where(b => found.GetValueOrDefault(b.Id) != 1).Take(5))
        {
            Example(examples, $"booking {booking.Id} ({booking.Tenant}, {booking.StartsAt:u}) acknowledged with 201, found {found.GetValueOrDefault(booking.Id)} time(s)");
        }

        var missingTokens = tokens.Count(t => !issuedTokens.Contains((t.Tenant, t.Location, t.Day, t.Number)));
        results.Add(new InvariantResult("no overlapping active bookings per resource", active, overlaps, $"{active} active bookings"));
        results.Add(new InvariantResult("every 201 booking exists exactly once", bookings.Count, lost + doubled, $"{lost} lost, {doubled} duplicated"));
        results.Add(new InvariantResult("no booking request wrote twice", bookings.Count + unacknowledged, duplicateRequests, $"{unacknowledged} written without a 201 reaching the client (errors, time-outs)"));
        results.Add(new InvariantResult("queue numbers unique and gapless per location/day", sequences, gaps, $"{issuedTokens.Count} tokens in {sequences} sequence(s)"));
        results.Add(new InvariantResult("every 201 queue token exists", tokens.Count, missingTokens, $"{tokens.Count} acknowledged"));
        results.Add(new InvariantResult("no reminder job lost", expectedJobs + jobs, missingJobs + lostJobs, $"{expectedJobs} jobs expected, {missingJobs} missing; {jobs} jobs, {lostJobs} sent without delivery or overdue"));
        foreach (var example in examples)
        {
            Console.Error.WriteLine("  invariant: " + example);
        }

        return results;
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql, string[] tenants, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = tenants });
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static void Example(List<string> examples, string text)
    {
        if (examples.Count < 20)
        {
            examples.Add(text);
        }
    }
}
