using Scaling.Tenancy;

namespace Scaling.Tenancy.Tests;

public class TenantContextAccessorTests
{
    private static readonly TenantInfo Acme = new(TenantId.Parse("acme"), "premium");
    private static readonly TenantInfo Globex = new(TenantId.Parse("globex"), "free");
    private static readonly TenantInfo Initech = new(TenantId.Parse("initech"), "authenticated");

    private readonly TenantContextAccessor _accessor = new();

    [Fact]
    public void Current_is_null_without_a_scope()
    {
        Assert.Null(_accessor.Current);
    }

    [Fact]
    public void BeginScope_sets_and_dispose_restores()
    {
        using (_accessor.BeginScope(Acme))
        {
            Assert.Same(Acme, _accessor.Current);
        }

        Assert.Null(_accessor.Current);
    }

    [Fact]
    public void Nested_scopes_restore_the_enclosing_tenant()
    {
        using (_accessor.BeginScope(Acme))
        {
            using (_accessor.BeginScope(Globex))
            {
                Assert.Same(Globex, _accessor.Current);

                using (_accessor.BeginScope(Acme))
                {
                    Assert.Same(Acme, _accessor.Current);
                }

                Assert.Same(Globex, _accessor.Current);
            }

            Assert.Same(Acme, _accessor.Current);
        }

        Assert.Null(_accessor.Current);
    }

    [Fact]
    public void Disposing_out_of_order_throws_and_changes_nothing()
    {
        var outer = _accessor.BeginScope(Acme);
        var inner = _accessor.BeginScope(Globex);

        var exception = Assert.Throws<InvalidOperationException>(outer.Dispose);

        Assert.Contains("'acme'", exception.Message, StringComparison.Ordinal);
        Assert.Contains("the current tenant is 'globex'", exception.Message, StringComparison.Ordinal);
        Assert.Contains("reverse order", exception.Message, StringComparison.Ordinal);
        Assert.Same(Globex, _accessor.Current);

        inner.Dispose();
        Assert.Same(Acme, _accessor.Current);
        outer.Dispose();
        Assert.Null(_accessor.Current);
    }

    [Fact]
    public void Disposing_twice_is_a_no_op()
    {
        var outer = _accessor.BeginScope(Acme);
        var inner = _accessor.BeginScope(Globex);

        inner.Dispose();
        inner.Dispose();

        Assert.Same(Acme, _accessor.Current);
        outer.Dispose();
        Assert.Null(_accessor.Current);
    }

    [Fact]
    public void BeginScope_rejects_null()
    {
        Assert.Throws<ArgumentNullException>(() => _accessor.BeginScope(null!));
    }

    [Fact]
    public void Two_accessor_instances_share_the_ambient_tenant()
    {
        var other = new TenantContextAccessor();

        using (_accessor.BeginScope(Acme))
        {
            Assert.Same(Acme, other.Current);
        }

        Assert.Null(other.Current);
    }

    [Fact]
    public async Task Tenant_flows_across_awaits()
    {
        using (_accessor.BeginScope(Acme))
        {
            await Task.Yield();
            Assert.Same(Acme, _accessor.Current);

            await Task.Delay(10);
            Assert.Same(Acme, _accessor.Current);

            Assert.Same(Acme, await ReadCurrentAfterYieldAsync());
        }

        Assert.Null(_accessor.Current);
    }

    [Fact]
    public async Task Tenant_flows_into_Task_Run()
    {
        using (_accessor.BeginScope(Acme))
        {
            var seen = await Task.Run(() => _accessor.Current);

            Assert.Same(Acme, seen);
        }
    }

    [Fact]
    public async Task Scope_begun_in_a_child_flow_does_not_leak_to_the_parent()
    {
        using (_accessor.BeginScope(Acme))
        {
            await Task.Run(() =>
            {
                var scope = _accessor.BeginScope(Globex);
                Assert.Same(Globex, _accessor.Current);
                _ = scope; // deliberately not disposed: it must still not reach the parent
            });

            Assert.Same(Acme, _accessor.Current);
        }

        Assert.Null(_accessor.Current);
    }

    [Fact]
    public async Task Scope_begun_inside_an_async_method_does_not_flow_back_to_the_caller()
    {
        IDisposable? scope = null;

        async Task BeginInsideAsync()
        {
            scope = _accessor.BeginScope(Globex);
            await Task.Yield();
            Assert.Same(Globex, _accessor.Current);
        }

        await BeginInsideAsync();

        Assert.Null(_accessor.Current);
        var exception = Assert.Throws<InvalidOperationException>(() => scope!.Dispose());
        Assert.Contains("the current tenant is none", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_flows_are_isolated_from_each_other()
    {
        var firstInScope = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondInScope = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task<(TenantInfo? BeforeBarrier, TenantInfo? AfterBarrier, TenantInfo? AfterScope)> RunFlowAsync(
            TenantInfo tenant, TaskCompletionSource ownSignal, Task otherSignal)
        {
            TenantInfo? before;
            TenantInfo? after;
            using (_accessor.BeginScope(tenant))
            {
                await Task.Yield();
                before = _accessor.Current;

                // Both flows are now inside their own scopes at the same time.
                ownSignal.SetResult();
                await otherSignal.WaitAsync(TimeSpan.FromSeconds(10));

                await Task.Delay(5);
                after = _accessor.Current;
            }

            return (before, after, _accessor.Current);
        }

        var first = Task.Run(() => RunFlowAsync(Acme, firstInScope, secondInScope.Task));
        var second = Task.Run(() => RunFlowAsync(Globex, secondInScope, firstInScope.Task));
        var results = await Task.WhenAll(first, second);

        Assert.Equal((Acme, Acme, (TenantInfo?)null), results[0]);
        Assert.Equal((Globex, Globex, (TenantInfo?)null), results[1]);
        Assert.Null(_accessor.Current);
    }

    [Fact]
    public async Task Sibling_flows_started_from_the_same_parent_see_the_parent_tenant_only()
    {
        using (_accessor.BeginScope(Acme))
        {
            var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

            var changer = Task.Run(async () =>
            {
                using (_accessor.BeginScope(Initech))
                {
                    changed.SetResult();
                    await release.Task;
                    return _accessor.Current;
                }
            });

            var observer = Task.Run(async () =>
            {
                await changed.Task;
                var seen = _accessor.Current;
                release.SetResult();
                return seen;
            });

            Assert.Same(Acme, await observer);
            Assert.Same(Initech, await changer);
            Assert.Same(Acme, _accessor.Current);
        }
    }

    private async Task<TenantInfo?> ReadCurrentAfterYieldAsync()
    {
        await Task.Yield();
        return _accessor.Current;
    }
}
