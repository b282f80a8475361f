using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BookingHost.Auth;
using Scaling.Testing;

namespace BookingHost.Tests.Domain;

/// <summary>
/// No 5xx for any input: every operation of BookingHost's own OpenAPI document (so a new endpoint is covered without
/// touching this test) is sent boundary values for each of its path and query parameters and each property of its
/// body: dates at <see cref="DateTime.MinValue"/>/<see cref="DateTime.MaxValue"/> and the booking horizon's edges,
/// offsets of ±14 h, numbers at the <see cref="int"/> and <see cref="long"/> limits, negative and huge page sizes,
/// overlong and control-character strings, malformed ids and bodies. Every answer is below 500 and every refusal is
/// problem+json; a 400 for one query parameter names it; and a refused request writes nothing. (Free text such as a
/// walk-in's name may legitimately hold "'; DROP TABLE" and is then written, as any name is.)
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class OpenApiSweepTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task Every_operation_answers_boundary_input_below_500_with_problem_json_and_writes_nothing()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var kit = await BusinessKit.CreateAsync(app, "shard-1");
        using (var customer = kit.Client(kit.Customer()))
        {
            using var booked = await kit.BookAsync(customer, BusinessKit.Tomorrow(9));
            Assert.Equal(HttpStatusCode.Created, booked.StatusCode);
        }

        using var anonymous = app.CreateClient();
        var document = JsonNode.Parse(await anonymous.GetStringAsync("/openapi/v1.json"))!;
        var operations = Operations(document).ToList();
        Assert.True(operations.Count >= 25, $"the OpenAPI document lists only {operations.Count} operations");

        var rows = await CountRowsAsync(kit);
        var failures = new List<string>();
        var accepted = new List<string>();
        var sent = 0;
        foreach (var operation in operations)
        {
            using var client = ClientFor(app, kit, operation.Path);
            foreach (var request in Requests(operation, document, kit))
            {
                sent++;
                using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                using var message = request.Build();
                using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
                var status = (int)response.StatusCode;
                var mediaType = response.Content.Headers.ContentType?.MediaType;
                var body = mediaType == "text/event-stream" ? string.Empty : await response.Content.ReadAsStringAsync(cancel.Token);
                if (request.Method != "GET")
                {
                    var now = await CountRowsAsync(kit);
                    if (status >= 400 && now != rows)
                    {
                        failures.Add($"{request}: {status} but rows were written ({rows} → {now})");
                    }
                    else if (status < 300 && now != rows)
                    {
                        accepted.Add($"{request}: {status}");
                    }

                    rows = now;
                }

                if (status >= 500)
                {
                    failures.Add($"{request}: {status} {Truncate(body)}");
                }
                else if (status >= 400 && status != 401 && status != 405 && mediaType != "application/problem+json")
                {
                    failures.Add($"{request}: {status} answered as {mediaType ?? "no content"}, not problem+json");
                }
                else if (status == 400 && request.Field is { } field && request.In == "query" && !body.Contains(field, StringComparison.OrdinalIgnoreCase))
                {
                    failures.Add($"{request}: 400 does not name '{field}': {Truncate(body)}");
                }
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {sent} requests failed:\n" + string.Join('\n', failures.Take(40)));
        Assert.True(sent > 500, $"only {sent} requests were generated");
        Assert.True(accepted.Count < sent / 10, $"{accepted.Count} requests were accepted and written: boundary input should mostly be refused:\n" + string.Join('\n', accepted.Take(40)));
        Assert.True(app.Errors.ToString().Length == 0, $"errors were logged: {app.Errors}");
    }

    /// <summary>The caller most likely to pass authorization, so that input reaches validation.</summary>
    private static HttpClient ClientFor(BookingApp app, BusinessKit kit, string path)
    {
        if (path.Contains("/platform/", StringComparison.Ordinal))
        {
            return kit.Client(app.Token(BookingRoles.PlatformAdmin));
        }

        if (path.Contains("/bookings", StringComparison.Ordinal) && !path.EndsWith("/complete", StringComparison.Ordinal))
        {
            return kit.Client(kit.Customer());
        }

        return kit.Client(kit.OwnerToken);
    }

    private static IEnumerable<Operation> Operations(JsonNode document)
    {
        foreach (var (path, item) in document["paths"]!.AsObject())
        {
            foreach (var (method, operation) in item!.AsObject())
            {
                if (method is "get" or "post" or "put" or "delete" or "patch")
                {
                    yield return new Operation(method.ToUpperInvariant(), path, operation!);
                }
            }
        }
    }

    private static IEnumerable<SweepRequest> Requests(Operation operation, JsonNode document, BusinessKit kit)
    {
        var parameters = operation.Node["parameters"]?.AsArray().Select(p => Resolve(p!, document)).ToList() ?? [];
        var pathParameters = parameters.Where(p => (string?)p["in"] == "path").ToList();
        var queryParameters = parameters.Where(p => (string?)p["in"] == "query").ToList();
        var body = BodySchema(operation.Node, document);
        bool IsFreeText(JsonNode parameter) => PlausibleValue((string)parameter["name"]!, Resolve(parameter["schema"], document), kit) == "main";
        string Plausible(JsonNode parameter) => PlausibleValue((string)parameter["name"]!, Resolve(parameter["schema"], document), kit);
        var validPath = Fill(operation.Path, pathParameters.ToDictionary(p => (string)p["name"]!, Plausible));

        // Each path parameter at each boundary (others plausible).
        foreach (var parameter in pathParameters)
        {
            var name = (string)parameter["name"]!;
            // A NUL in the path is refused by the server before the application (Kestrel: 400), so it is not sent here.
            foreach (var value in Boundaries(Resolve(parameter["schema"], document)).Where(v => !v.Contains('\0', StringComparison.Ordinal)))
            {
                var values = pathParameters.ToDictionary(p => (string)p["name"]!, Plausible);
                values[name] = value;
                yield return new SweepRequest(operation.Method, Fill(operation.Path, values), null, name, "path");
            }
        }

        // Each query parameter at each boundary, the others plausible (so that a 400 is about that one), then all of
        // them at their extremes at once.
        foreach (var parameter in queryParameters)
        {
            var name = (string)parameter["name"]!;
            var others = string.Concat(queryParameters.Where(p => p != parameter && !IsFreeText(p)).Select(p => $"&{p["name"]}={Uri.EscapeDataString(Plausible(p))}"));
            foreach (var value in Boundaries(Resolve(parameter["schema"], document)))
            {
                yield return new SweepRequest(operation.Method, $"{validPath}?{name}={Uri.EscapeDataString(value)}{others}", null, name, "query");
            }
        }

        if (queryParameters.Count > 1)
        {
            foreach (var pick in new[] { 0, 3, 5 })
            {
                var query = string.Join('&', queryParameters.Select(p =>
                {
                    var values = Boundaries(Resolve(p["schema"], document)).ToList();
                    return $"{p["name"]}={Uri.EscapeDataString(values[pick % values.Count])}";
                }));
                yield return new SweepRequest(operation.Method, $"{validPath}?{query}", null, null, "query");
            }
        }

        if (body is null)
        {
            yield break;
        }

        // Malformed bodies, then each property alone at each boundary (the others absent).
        foreach (var raw in new[] { "", "null", "[]", "\"text\"", "1e400", "{", "{\"a\":", "{}" })
        {
            yield return new SweepRequest(operation.Method, validPath, raw, null, "body");
        }

        foreach (var (property, schema) in body["properties"]?.AsObject() ?? [])
        {
            var propertySchema = Resolve(schema, document);
            foreach (var value in Boundaries(propertySchema).Select(v => JsonValueFor(propertySchema, v)).Append("null").Append("[]").Append("{}"))
            {
                yield return new SweepRequest(operation.Method, validPath, $"{{\"{property}\":{value}}}", property, "body");
            }
        }
    }

    /// <summary>Boundary values for a schema, as text.</summary>
    private static IEnumerable<string> Boundaries(JsonNode? schema)
    {
        var type = TypeOf(schema);
        var format = (string?)schema?["format"];
        var today = DateTime.UtcNow.Date;
        var dates = new[]
        {
            "0001-01-01", "9999-12-31", "9999-12-30", today.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            today.AddMonths(6).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), today.AddMonths(6).AddDays(2).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            today.AddDays(-2).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), "2026-02-30", "2027-03-28",
        };
        var times = new[]
        {
            "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999-14:00", "9999-12-31T23:59:59Z",
            today.AddDays(1).AddHours(2.5).ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + "+14:00",
            today.AddDays(1).ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + "-14:00",
            today.AddMonths(6).AddDays(1).ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + "Z",
            "2027-03-28T01:30:00+00:00", "2027-10-31T01:30:00+01:00", "2027-03-28T02:30:00", "2026-13-01T00:00:00Z",
        };
        var numbers = new[] { "0", "-1", "2147483647", "-2147483648", "2147483648", "9223372036854775807", "-9223372036854775808", "99999999999999999999", "1.5", "NaN" };
        var strings = new[] { "", " ", new string('x', 5_000), "a\u0000b", "\u202e\ud800", "../../etc/passwd", "'; DROP TABLE bookings;--", "%", "null" };
        var guids = new[] { Guid.Empty.ToString(), Guid.NewGuid().ToString(), "not-a-guid", "00000000-0000-0000-0000-00000000000g" };
        return (type, format) switch
        {
            ("integer", _) or ("number", _) => numbers.Concat(["x", ""]),
            ("string", "uuid") => guids.Concat(strings.Take(3)),
            ("string", "date") => dates.Concat(strings.Take(3)),
            ("string", "date-time") => times.Concat(dates.Take(2)).Concat(strings.Take(3)),
            ("boolean", _) => ["true", "false", "yes", "2"],
            ("array", _) => ["", "x"],
            _ => strings.Concat(dates.Take(2)).Concat(times.Take(3)).Concat(numbers.Take(4)),
        };
    }

    /// <summary>A value that the endpoint accepts, so that a refusal is about the parameter under test.</summary>
    private static string PlausibleValue(string name, JsonNode schema, BusinessKit kit) => (TypeOf(schema), (string?)schema["format"]) switch
    {
        ("integer", _) => name == "limit" ? "10" : "1",
        ("string", "uuid") when name.Contains("service", StringComparison.OrdinalIgnoreCase) => kit.ServiceId.ToString(),
        ("string", "uuid") when name.Contains("resource", StringComparison.OrdinalIgnoreCase) => kit.ResourceId.ToString(),
        ("string", "uuid") => Guid.NewGuid().ToString(),
        _ when name is "date" => DateTime.UtcNow.Date.AddDays(1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        _ when name is "from" or "to" => DateTime.UtcNow.Date.AddDays(name == "from" ? 0 : 7).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        _ => "main",
    };

    /// <summary>The JSON for a boundary value: a number stays a number when it parses as one, anything else is a string.</summary>
    private static string JsonValueFor(JsonNode schema, string value)
        => TypeOf(schema) is "integer" or "number" && decimal.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
            ? value
            : TypeOf(schema) == "boolean" && value is "true" or "false" ? value : JsonSerializer.Serialize(value);

    private static string? TypeOf(JsonNode? schema) => schema?["type"] switch
    {
        JsonValue value => (string?)value,
        JsonArray types => types.Select(t => (string?)t).FirstOrDefault(t => t != "null"),
        _ => null,
    };

    private static JsonNode? BodySchema(JsonNode operation, JsonNode document)
        => operation["requestBody"]?["content"]?["application/json"]?["schema"] is { } schema ? Resolve(schema, document) : null;

    private static JsonNode Resolve(JsonNode? node, JsonNode document)
    {
        while (node?["$ref"] is JsonValue reference)
        {
            var path = ((string)reference!).TrimStart('#', '/').Split('/');
            node = path.Aggregate((JsonNode?)document, (n, part) => n?[part]);
        }

        return node ?? new JsonObject();
    }

    private static string Fill(string path, IReadOnlyDictionary<string, string> values)
        => values.Aggregate(path, (p, v) => p.Replace("{" + v.Key + "}", Uri.EscapeDataString(v.Value), StringComparison.Ordinal));

    /// <summary>The business's rows on its shard's primary, in one query.</summary>
    private async Task<string> CountRowsAsync(BusinessKit kit)
    {
        var counts = string.Join(" || ',' || ", new[] { "businesses", "services", "resources", "working_hours", "bookings", "queue_tokens", "reminder_jobs" }
            .Select(table => $"(SELECT count(*) FROM {table} WHERE tenant_id = '{kit.Tenant}')::text"));
        return await Servers.Shard1Primary.ScalarAsync<string>($"SELECT {counts}");
    }

    private static string Truncate(string text) => text.Length <= 300 ? text : text[..300] + "…";

    private sealed record Operation(string Method, string Path, JsonNode Node);

    private sealed record SweepRequest(string Method, string Url, string? Body, string? Field, string In)
    {
        public HttpRequestMessage Build()
        {
            var message = new HttpRequestMessage(new HttpMethod(Method), Url);
            if (Body is not null)
            {
                message.Content = new StringContent(Body, Encoding.UTF8, "application/json");
            }

            if (Method == "POST")
            {
                message.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
            }

            return message;
        }

        public override string ToString() => $"{Method} {(Url.Length > 160 ? Url[..160] + "…" : Url)}{(Body is null ? string.Empty : " " + (Body.Length > 120 ? Body[..120] + "…" : Body))}";
    }
}
