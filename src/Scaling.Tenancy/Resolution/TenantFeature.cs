namespace Scaling.Tenancy.Resolution;

/// <summary>The <see cref="ITenantFeature"/> the middleware sets.</summary>
internal sealed class TenantFeature(TenantInfo tenant, string source) : ITenantFeature
{
    public TenantInfo Tenant { get; } = tenant;

    public string Source { get; } = source;
}
