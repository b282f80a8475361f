using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BookingHost.Demo;
using BookingHost.Domain;
using Microsoft.AspNetCore.Hosting;
using Scaling.Testing;

namespace BookingHost.Tests.Domain;

[Collection(ServersCollection.Name)]
public sealed class SeedTests(ServersFixture fixture)
{
    [Fact]
    public async Task The_seeded_deployment_has_two_businesses_on_two_shards_and_the_printed_example_requests_work()
    {
        var cluster = BookingApp.NewCluster();
        await using var a = await BookingApp.StartAsync(fixture.Servers, cluster, b => b.UseSetting("BookingHost:Seed", "true"));
        await using var b = await BookingApp.StartAsync(fixture.Servers, cluster, w => w.UseSetting("BookingHost:Seed", "true")); // seeding again changes nothing
        Assert.True(a.Router.Map.TryGetTenant(Scaling.Tenancy.TenantId.Parse("acme-salon"), out var salon));
        Assert.True(a.Router.Map.TryGetTenant(Scaling.Tenancy.TenantId.Parse("city-clinic"), out var clinic));
        Assert.Equal(("shard-1", "shard-2"), (salon.ShardId, clinic.ShardId));

        // What eng/run-host.sh prints: list services, log in, book, list.
        using var anonymous = a.CreateClient();
        anonymous.DefaultRequestHeaders.Add("X-Tenant", "acme-salon");
        var services = await anonymous.GetFromJsonAsync<JsonElement>("/api/v1/services");
        Assert.Equal(["Colour", "Haircut"], services.EnumerateArray().Select(s => s.GetProperty("name").GetString()));
        var resources = await anonymous.GetFromJsonAsync<JsonElement>("/api/v1/resources");
        Assert.Equal(2, resources.GetArrayLength());

        using var login = await anonymous.PostAsJsonAsync("/api/v1/auth/login", new { email = "customer@demo.test", password = DemoSeeder.Password });
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var token = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString();
        using var customer = b.CreateClient();
        customer.DefaultRequestHeaders.Add("X-Tenant", "acme-salon");
        customer.DefaultRequestHeaders.Authorization = new("Bearer", token);
        var monday = DateTime.UtcNow.Date.AddDays(((int)DayOfWeek.Monday - (int)DateTime.UtcNow.DayOfWeek + 7) % 7 + 7);
        var haircut = services.EnumerateArray().Single(s => s.GetProperty("name").GetString() == "Haircut").GetProperty("id").GetGuid();
        var alex = resources.EnumerateArray().First().GetProperty("id").GetGuid();
        var availability = await customer.GetFromJsonAsync<JsonElement>($"/api/v1/availability?serviceId={haircut}&resourceId={alex}&date={monday:yyyy-MM-dd}");
        var first = availability.GetProperty("slots").EnumerateArray().First().GetDateTimeOffset();
        using var booked = await customer.PostAsJsonAsync("/api/v1/bookings", new { serviceId = haircut, resourceId = alex, startsAt = first });
        Assert.Equal(HttpStatusCode.Created, booked.StatusCode);
    }
}
