namespace Scaling.Tenancy.Migrations;

/// <summary>An applied migration whose script has changed since it was applied.</summary>
/// <param name="Version">Its version.</param>
/// <param name="Name">Its name in the given set.</param>
/// <param name="AppliedChecksum">The checksum recorded when it was applied.</param>
/// <param name="CurrentChecksum">The checksum of the script in the given set.</param>
public sealed record ChecksumMismatch(long Version, string Name, string AppliedChecksum, string CurrentChecksum);
