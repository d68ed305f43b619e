using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators;

/// <summary>Joins every block and retired id into one table, rejecting ids and names used twice.</summary>
internal static class TypeTableBuilder
{
    public static TypeTableModel Build(ImmutableArray<BlockModel> blocks, ImmutableArray<RetiredModel> retired, EquatableArray<KernelSummary> kernels)
    {
        var kernelsByName = kernels.ToDictionary(kernel => kernel.Name, StringComparer.Ordinal);
        var diagnostics = new List<DiagnosticInfo>();
        var idOwners = new Dictionary<uint, string>();
        var nameOwners = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var retiredEntries = new List<RetiredEntry>();
        var typeEntries = new List<TypeEntry>();

        // Retired ids are the older claim, so a live type reusing one is the one reported.
        foreach (var old in retired.Where(old => old.Diagnostics.Count == 0).OrderBy(old => old.Id).ThenBy(old => old.Location, LocationOrder.Instance))
        {
            var owner = "retired " + old.Name;
            if (Claim(old.Id, new[] { old.Name }, owner, old.Location, idOwners, nameOwners, diagnostics))
            {
                retiredEntries.Add(new RetiredEntry(old.Id, old.Name));
            }
        }

        foreach (var block in blocks.Where(block => block.HeaderIsValid).OrderBy(block => block.Id).ThenBy(block => block.Location, LocationOrder.Instance))
        {
            if (Claim(block.Id, new[] { block.Name, block.GgmlName }, block.StructName, block.Location, idOwners, nameOwners, diagnostics))
            {
                kernelsByName.TryGetValue(block.Name, out var kernel);
                typeEntries.Add(new TypeEntry(block.Id, block.Name, block.GgmlName, block.BlockSize, block.TypeSize, block.IsQuantized, block.FullStructName, kernel));
            }
        }

        return new TypeTableModel(typeEntries.ToEquatableArray(), retiredEntries.ToEquatableArray(), diagnostics.ToEquatableArray());
    }

    private static bool Claim(
        uint id,
        string[] names,
        string owner,
        LocationInfo? location,
        Dictionary<uint, string> idOwners,
        Dictionary<string, string> nameOwners,
        List<DiagnosticInfo> diagnostics)
    {
        var free = true;
        if (idOwners.TryGetValue(id, out var idOwner))
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DuplicateId, location, id.ToString(System.Globalization.CultureInfo.InvariantCulture), owner, idOwner));
            free = false;
        }

        foreach (var name in names.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (nameOwners.TryGetValue(name, out var nameOwner))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DuplicateName, location, name, owner, nameOwner));
                free = false;
            }
        }

        if (free)
        {
            idOwners.Add(id, owner);
            foreach (var name in names)
            {
                nameOwners[name] = owner;
            }
        }

        return free;
    }

    /// <summary>Orders declarations by file and position so the report does not depend on input order.</summary>
    private sealed class LocationOrder : IComparer<LocationInfo?>
    {
        public static readonly LocationOrder Instance = new();

        public int Compare(LocationInfo? x, LocationInfo? y)
        {
            if (x is null || y is null)
            {
                return (x is null ? 0 : 1) - (y is null ? 0 : 1);
            }

            var byPath = string.CompareOrdinal(x.FilePath, y.FilePath);
            return byPath != 0 ? byPath : x.Span.Start.CompareTo(y.Span.Start);
        }
    }
}
