namespace Scaling.Tenancy;

/// <summary>
/// The <see cref="ITenantContextAccessor"/> backed by an <see cref="AsyncLocal{T}"/>.
/// </summary>
/// <remarks>
/// <para>
/// Like <c>HttpContextAccessor</c>, every instance reads and writes the same ambient slot, so two
/// instances (for example from two service providers) always agree on the current tenant. Register it
/// as a singleton.
/// </para>
/// <para>
/// Scopes are strictly nested per flow. Disposing a scope restores the tenant that was current when it
/// began. Disposing a scope that is not the innermost active scope of the current flow throws an
/// <see cref="InvalidOperationException"/> and changes nothing (this catches a scope disposed out of
/// order, or disposed in a caller after the <see langword="async"/> method that began it returned:
/// ambient changes made inside an <see langword="async"/> method do not flow back to its caller).
/// Disposing a scope that was already disposed on the current flow does nothing.
/// </para>
/// </remarks>
public sealed class TenantContextAccessor : ITenantContextAccessor
{
    private static readonly AsyncLocal<TenantScope?> _currentScope = new();

    /// <inheritdoc />
    public TenantInfo? Current => _currentScope.Value?.Tenant;

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">
    /// Thrown by the returned scope's <see cref="IDisposable.Dispose"/> when it is not the innermost
    /// active scope of the flow that disposes it.
    /// </exception>
    public IDisposable BeginScope(TenantInfo tenant)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        var scope = new TenantScope(tenant, _currentScope.Value);
        _currentScope.Value = scope;
        return scope;
    }

    private sealed class TenantScope(TenantInfo tenant, TenantScope? parent) : IDisposable
    {
        private volatile bool _disposed;

        public TenantInfo Tenant { get; } = tenant;

        public void Dispose()
        {
            var current = _currentScope.Value;
            if (ReferenceEquals(current, this))
            {
                _currentScope.Value = parent;
                _disposed = true;
                return;
            }

            if (_disposed)
            {
                return;
            }

            throw new InvalidOperationException(
                $"The tenant scope for '{Tenant.Id}' cannot be disposed here: it is not the innermost active tenant scope of the current async flow " +
                $"(the current tenant is {(current is null ? "none" : $"'{current.Tenant.Id}'")}). Dispose tenant scopes in the reverse order they " +
                "were begun, on the flow that began them (a 'using' statement does this); a scope begun inside an async method ends when that method returns.");
        }
    }
}
