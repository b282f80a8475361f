namespace Scaling.Cache.Tests;

/// <summary>Tenant ids of <see cref="TenantCacheKeys"/> follow the one tenant-id rule set (docs/conventions.md, "Tenants").</summary>
public sealed class TenantCacheKeysTests
{
    [Theory]
    [InlineData("Salon-1")]
    [InlineData("salon.1")]
    [InlineData("salon_1")]
    [InlineData("-salon")]
    [InlineData("salon-")]
    [InlineData("")]
    public void A_tenant_id_outside_the_rules_is_rejected_by_Key_and_Tag(string tenantId)
    {
        var key = Assert.Throws<ArgumentException>(() => TenantCacheKeys.Key(tenantId, "services"));
        Assert.Equal("tenantId", key.ParamName);
        var tag = Assert.Throws<ArgumentException>(() => TenantCacheKeys.Tag(tenantId));
        Assert.Equal("tenantId", tag.ParamName);
    }

    [Fact]
    public void A_tenant_id_of_63_characters_is_accepted_and_one_of_64_is_rejected()
    {
        var longest = new string('a', 63);

        Assert.Equal(63, TenantCacheKeys.MaxTenantIdLength);
        Assert.Equal("tenant:" + longest + ":services", TenantCacheKeys.Key(longest, "services"));
        Assert.Equal("tenant:" + longest, TenantCacheKeys.Tag(longest));
        Assert.Throws<ArgumentException>(() => TenantCacheKeys.Key(longest + "a", "services"));
        Assert.Throws<ArgumentException>(() => TenantCacheKeys.Tag(longest + "a"));
    }

    [Fact]
    public void Lowercase_letters_digits_and_inner_hyphens_are_accepted()
    {
        Assert.Equal("tenant:salon-42:k", TenantCacheKeys.Key("salon-42", "k"));
        Assert.Equal("tenant:7", TenantCacheKeys.Tag("7"));
    }
}
