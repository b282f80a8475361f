using System.Collections;
using BookingHost.Auth;
using Scaling.Tenancy.Resolution;

namespace BookingHost.Observability;

/// <summary>
/// The logging scope of one request: <c>TenantId</c>, <c>RequestId</c> and <c>UserId</c>. The scope is opened before
/// tenant resolution and authentication run, so the tenant and the user are read from the request when an entry is
/// written (entries written after them, the request line among them, carry what they found). When the request ends,
/// <see cref="Freeze"/> keeps the last values: work the request started in the background may log after the request's
/// context is gone, and must never touch it then.
/// </summary>
internal sealed class RequestLogScope(HttpContext context) : IReadOnlyList<KeyValuePair<string, object?>>
{
    private readonly string _requestId = context.TraceIdentifier;
    private volatile bool _frozen;
    private string? _tenant;
    private string? _user;

    public int Count => 3;

    public KeyValuePair<string, object?> this[int index]
    {
        get
        {
            if (index is < 0 or > 2)
            {
                throw new ArgumentOutOfRangeException(nameof(index));
            }

            if (index != 1 && !_frozen)
            {
                Read();
            }

            return index switch
            {
                0 => new("TenantId", _tenant),
                1 => new("RequestId", _requestId),
                _ => new("UserId", _user),
            };
        }
    }

    /// <summary>Reads the tenant and user a last time; from now on the scope never reads the request again.</summary>
    public void Freeze()
    {
        Read();
        _frozen = true;
    }

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"TenantId:{this[0].Value} RequestId:{_requestId} UserId:{this[2].Value}";

    private void Read()
    {
        try
        {
            _tenant = context.GetTenant()?.Id.Value ?? _tenant;
            _user = context.User.GetUserId()?.ToString() ?? _user;
        }
        catch (ObjectDisposedException)
        {
            _frozen = true; // the request ended while this entry was written: keep what was read before
        }
    }
}
