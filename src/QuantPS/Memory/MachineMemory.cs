using System.Globalization;

namespace QuantPS.Memory;

/// <summary>What this machine has: the default budgets.</summary>
public static class MachineMemory
{
    /// <summary>Total system memory: MemTotal of /proc/meminfo on Linux, else what the .NET runtime sees.</summary>
    public static long SystemBytes()
    {
        if (OperatingSystem.IsLinux() && FromMeminfo("/proc/meminfo") is { } bytes)
        {
            return bytes;
        }

        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    /// <summary>MemTotal from a meminfo file ("MemTotal:  16318480 kB"), or null when unreadable.</summary>
    internal static long? FromMeminfo(string path)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
                var parts = line["MemTotal:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 1 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kb))
                {
                    return kb * 1024;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }
}
