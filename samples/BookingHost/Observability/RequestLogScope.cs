using System.Collections;
using BookingHost.Auth;
using Scaling.Tenancy.Resolution;

namespace BookingHost.Observability;

/// <summary>
/// The logging scope of one request: <c>TenantId</c>, <c>RequestId</c> and <c>UserId</c>, read from the request each
/// time a log entry is written. The scope is opened before tenant resolution and authentication run, so entries
/// written after them (the request line among them) carry the tenant and the user they found.
/// </summary>
internal sealed class RequestLogScope(HttpContext context) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public int Count => 3;

    public KeyValuePair<string, object?> this[int index] => index switch
    {
        0 => new("TenantId", context.GetTenant()?.Id.Value),
        1 => new("RequestId", context.TraceIdentifier),
        2 => new("UserId", context.User.GetUserId()?.ToString()),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"TenantId:{this[0].Value} RequestId:{this[1].Value} UserId:{this[2].Value}";
}
