using BookingHost.Auth;
using BookingHost.Domain;
using BookingHost.Infrastructure;
using Npgsql;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Demo;

/// <summary>
/// The demo data of <c>eng/run-host.sh</c> (<c>BookingHost:Seed=true</c>): two businesses on two shards, each with
/// services, staff with working hours and an owner; a customer; a platform admin. Idempotent.
/// </summary>
public sealed class DemoSeeder(BusinessDirectory directory, UserDirectory users, ShardRouter router, CatalogStore catalog) : ISeeder
{
    /// <summary>The password of every demo user.</summary>
    public const string Password = "demo-password";

    /// <inheritdoc />
    public async Task SeedAsync(CancellationToken cancellationToken)
    {
        await SeedBusinessAsync("acme-salon", "Acme Salon", "premium", "shard-1", "Europe/London", [("Haircut", 30, 3500), ("Colour", 90, 9000)], ["Alex", "Sam"], cancellationToken);
        var shard2 = router.Map.Shards.Any(s => s.Id == "shard-2") ? "shard-2" : "shard-1";
        await SeedBusinessAsync("city-clinic", "City Clinic", "basic", shard2, "Australia/Sydney", [("Consultation", 20, 6000), ("Check-up", 40, 9000)], ["Dr Lee", "Room 1"], cancellationToken);
        await UserAsync("admin@demo.test", BookingRoles.PlatformAdmin, null, null, cancellationToken);
        await UserAsync("customer@demo.test", BookingRoles.Customer, null, null, cancellationToken);
    }

    private async Task SeedBusinessAsync(
        string id, string name, string plan, string shard, string timeZone, (string Name, int Minutes, int Cents)[] services, string[] staff, CancellationToken ct)
    {
        var tenant = TenantId.Parse(id);
        var existed = router.Map.TryGetTenant(tenant, out _);
        try
        {
            await directory.CreateAsync(tenant, name, plan, shard, timeZone, ct);
        }
        catch (InvalidOperationException)
        {
            await router.Map.RefreshAsync(ct);
            if (!router.Map.TryGetTenant(tenant, out _))
            {
                throw;
            }

            return; // another instance seeded it at the same moment
        }

        await UserAsync($"owner@{id}.demo.test", BookingRoles.Owner, id, null, ct);
        await UserAsync($"staff@{id}.demo.test", BookingRoles.Staff, id, null, ct);
        if (existed)
        {
            return;
        }

        await router.WriteAsync(tenant, async (tx, c) =>
        {
            await using var batch = new NpgsqlBatch(tx.Connection, tx);
            foreach (var (service, minutes, cents) in services)
            {
                CatalogWrites.AddService(batch, tenant, new ServiceView(Guid.NewGuid(), service, minutes, cents));
            }

            var weekdays = Enumerable.Range(1, 6).Select(day => new WorkingHoursView(day, new TimeOnly(9, 0), new TimeOnly(17, 0))).ToArray();
            foreach (var person in staff)
            {
                var kind = person.StartsWith("Room", StringComparison.Ordinal) ? "room" : "staff";
                CatalogWrites.AddResource(batch, tenant, new ResourceView(Guid.NewGuid(), person, kind, weekdays));
            }

            return await batch.ExecuteNonQueryAsync(c);
        }, cancellationToken: ct);
        await catalog.InvalidateAsync(tenant, ct);
    }

    private async Task UserAsync(string email, string role, string? tenant, string? plan, CancellationToken ct)
    {
        if (await users.FindByEmailAsync(email, ct) is null)
        {
            try
            {
                await users.CreateUserAsync(email, Password, role, tenant, plan, ct);
            }
            catch (DuplicateEmailException)
            {
                // another instance seeded it at the same moment
            }
        }
    }
}
