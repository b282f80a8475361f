namespace BookingHost.Realtime;

/// <summary>
/// What one stream receives. Staff, owners and platform admins see every event of the business; a customer sees the
/// business's queue events (the waiting-room view) and the booking events whose data carries their own
/// <c>customerId</c>. With a location, only events of that location (queue events) are sent.
/// </summary>
/// <param name="Tenant">The business.</param>
/// <param name="Customer">The customer's user id, or <see langword="null"/> for a stream that sees every event.</param>
/// <param name="Location">The location, or <see langword="null"/> for all.</param>
internal sealed record EventStreamFilter(string Tenant, Guid? Customer, string? Location)
{
    public bool Accepts(EventFrame frame)
    {
        if (frame.IsHeartbeat)
        {
            return true;
        }

        if (Location is not null && !string.Equals(frame.Location, Location, StringComparison.Ordinal))
        {
            return false;
        }

        return Customer is not { } customer || frame.IsQueueEvent || frame.CustomerId == customer;
    }
}
