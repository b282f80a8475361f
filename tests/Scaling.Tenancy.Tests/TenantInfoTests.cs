using Scaling.Tenancy;

namespace Scaling.Tenancy.Tests;

public class TenantInfoTests
{
    private static readonly TenantId Acme = TenantId.Parse("acme");

    [Fact]
    public void Constructor_sets_properties_and_shard_defaults_to_null()
    {
        var tenant = new TenantInfo(Acme, "premium");

        Assert.Equal(Acme, tenant.Id);
        Assert.Equal("premium", tenant.Plan);
        Assert.Null(tenant.ShardId);
    }

    [Fact]
    public void With_expression_derives_a_routed_copy()
    {
        var tenant = new TenantInfo(Acme, "premium");

        var routed = tenant with { ShardId = "shard-2" };

        Assert.Equal("shard-2", routed.ShardId);
        Assert.Null(tenant.ShardId);
        Assert.Equal(tenant.Id, routed.Id);
        Assert.Equal(tenant.Plan, routed.Plan);
    }

    [Fact]
    public void Equality_is_by_value()
    {
        Assert.Equal(new TenantInfo(Acme, "premium", "shard-1"), new TenantInfo(Acme, "premium", "shard-1"));
        Assert.NotEqual(new TenantInfo(Acme, "premium", "shard-1"), new TenantInfo(Acme, "premium", "shard-2"));
    }

    [Fact]
    public void Rejects_default_tenant_id()
    {
        var exception = Assert.Throws<ArgumentException>(() => new TenantInfo(default, "premium"));

        Assert.Contains("default(TenantId)", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Rejects_empty_plan(string plan)
    {
        var exception = Assert.Throws<ArgumentException>(() => new TenantInfo(Acme, plan));

        Assert.Contains("plan cannot be empty", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_null_plan()
    {
        Assert.Throws<ArgumentNullException>(() => new TenantInfo(Acme, null!));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    public void Rejects_empty_shard_id(string shardId)
    {
        var exception = Assert.Throws<ArgumentException>(() => new TenantInfo(Acme, "free", shardId));

        Assert.Contains("shard id cannot be empty", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void With_expression_is_validated_too()
    {
        var tenant = new TenantInfo(Acme, "free");

        Assert.Throws<ArgumentException>(() => tenant with { Plan = "" });
        Assert.Throws<ArgumentException>(() => tenant with { Id = default });
    }
}
