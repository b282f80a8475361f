using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Scaling.Testing;

namespace BookingHost.Tests.Domain;

/// <summary>
/// The catalog runs on EF Core (Scaling.EntityFrameworkCore) over the tables that the SQL migrations create on every shard:
/// each of its reads and writes works on both shards, and what one business writes never shows in another's catalog.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class CatalogEfCoreTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Theory]
    [InlineData("shard-1")]
    [InlineData("shard-2")]
    public async Task The_catalog_reads_and_writes_through_EF_Core_on_each_shard_and_stays_within_its_business(string shard)
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var kit = await BusinessKit.CreateAsync(app, shard);
        var other = await BusinessKit.CreateAsync(app, shard); // a neighbour on the same shard
        using var owner = kit.Client(kit.OwnerToken);

        using (var update = await owner.PutAsJsonAsync("/api/v1/business", new { name = "Renamed salon", slotMinutes = 20 }))
        {
            Assert.Equal(HttpStatusCode.NoContent, update.StatusCode);
        }

        var business = await owner.GetFromJsonAsync<JsonElement>("/api/v1/business", BusinessKit.Json);
        Assert.Equal("Renamed salon", business.GetProperty("name").GetString());
        Assert.Equal(20, business.GetProperty("slotMinutes").GetInt32());
        Assert.Equal("UTC", business.GetProperty("timeZone").GetString()); // a null in the update kept the value

        using (var added = await owner.PostAsJsonAsync("/api/v1/services", new { name = "Beard trim", durationMinutes = 15, priceCents = 1200 }))
        {
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }

        var services = await owner.GetFromJsonAsync<JsonElement>("/api/v1/services", BusinessKit.Json);
        Assert.Equal(new[] { "Beard trim", "Cut" }, services.EnumerateArray().Select(s => s.GetProperty("name").GetString()!));
        var resources = await owner.GetFromJsonAsync<JsonElement>("/api/v1/resources", BusinessKit.Json);
        var alex = Assert.Single(resources.EnumerateArray());
        Assert.Equal(kit.ResourceId, alex.GetProperty("id").GetGuid());
        Assert.Equal(Enumerable.Range(0, 7), alex.GetProperty("hours").EnumerateArray().Select(h => h.GetProperty("weekday").GetInt32()));

        // The neighbour's catalog on the same shard has none of it.
        using var neighbour = other.Client(other.OwnerToken);
        var theirs = await neighbour.GetFromJsonAsync<JsonElement>("/api/v1/services", BusinessKit.Json);
        Assert.Equal(other.ServiceId, Assert.Single(theirs.EnumerateArray()).GetProperty("id").GetGuid());
        var theirBusiness = await neighbour.GetFromJsonAsync<JsonElement>("/api/v1/business", BusinessKit.Json);
        Assert.NotEqual("Renamed salon", theirBusiness.GetProperty("name").GetString());
    }
}
