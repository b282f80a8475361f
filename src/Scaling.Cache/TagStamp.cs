namespace Scaling.Cache;

/// <summary>A tag of an entry and the tag's version when the entry was made; the entry is valid while no newer version exists.</summary>
internal readonly record struct TagStamp(string Tag, long Version);
