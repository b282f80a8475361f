using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BookingHost.Auth;
using Scaling.Tenancy;

namespace BookingHost.Tests.Domain;

/// <summary>A business with a service and a resource open all day every day, and tokens for its people.</summary>
internal sealed record BusinessKit(BookingApp App, TenantId Tenant, string OwnerToken, string StaffToken, Guid ServiceId, Guid ResourceId)
{
    public static readonly JsonSerializerOptions Json = JsonSerializerOptions.Web;

    public static async Task<BusinessKit> CreateAsync(BookingApp app, string? shard = null, int durationMinutes = 30)
    {
        var tenant = await app.CreateBusinessAsync(shard);
        var owner = app.Token(BookingRoles.Owner, tenant);
        using var client = app.ClientFor(tenant, owner);
        using var service = await client.PostAsJsonAsync("/api/v1/services", new { name = "Cut", durationMinutes, priceCents = 2500 });
        Assert.Equal(HttpStatusCode.Created, service.StatusCode);
        var serviceId = (await service.Content.ReadFromJsonAsync<JsonElement>(Json)).GetProperty("id").GetGuid();
        var hours = Enumerable.Range(0, 7).Select(d => new { weekday = d, opens = "00:00:00", closes = "23:59:00" });
        using var resource = await client.PostAsJsonAsync("/api/v1/resources", new { name = "Alex", kind = "staff", hours });
        Assert.Equal(HttpStatusCode.Created, resource.StatusCode);
        var resourceId = (await resource.Content.ReadFromJsonAsync<JsonElement>(Json)).GetProperty("id").GetGuid();
        return new BusinessKit(app, tenant, owner, app.Token(BookingRoles.Staff, tenant), serviceId, resourceId);
    }

    public string Customer(Guid? id = null) => App.Token(BookingRoles.Customer, userId: id ?? Guid.NewGuid());

    public HttpClient Client(string? token, BookingApp? app = null) => (app ?? App).ClientFor(Tenant, token);

    /// <summary>A slot start tomorrow (UTC) at the given hour and minute.</summary>
    public static DateTimeOffset Tomorrow(int hour, int minute = 0)
        => new(DateTime.UtcNow.Date.AddDays(1).AddHours(hour).AddMinutes(minute), TimeSpan.Zero);

    public Task<HttpResponseMessage> BookAsync(HttpClient client, DateTimeOffset startsAt, string? notes = null)
        => client.PostAsJsonAsync("/api/v1/bookings", new { serviceId = ServiceId, resourceId = ResourceId, startsAt, notes });
}
