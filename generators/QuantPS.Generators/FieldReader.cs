using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using QuantPS.Generators.Model;

namespace QuantPS.Generators;

/// <summary>
/// Turns one field attribute into a <see cref="FieldModel"/>: reads its arguments, checks them and
/// computes its storage. This is where "bytes per block" comes from: each kind knows its own size.
/// </summary>
internal static class FieldReader
{
    private static readonly Dictionary<string, FieldKind> KindsByAttribute = new()
    {
        ["ElementAttribute"] = FieldKind.Element,
        ["ScaleAttribute"] = FieldKind.Scale,
        ["MinAttribute"] = FieldKind.Min,
        ["SumAttribute"] = FieldKind.Sum,
        ["QuantsAttribute"] = FieldKind.Quants,
        ["HighBitsAttribute"] = FieldKind.HighBits,
        ["SubScalesAttribute"] = FieldKind.SubScales,
        ["GroupSumsAttribute"] = FieldKind.GroupSums,
        ["SignsAttribute"] = FieldKind.Signs,
        ["GridIndexAttribute"] = FieldKind.GridIndex,
        ["TritsAttribute"] = FieldKind.Trits,
        ["PackedAttribute"] = FieldKind.Packed,
    };

    /// <summary>Scalar formats: C# storage type and bytes. "Integer" is absent: it has no width alone.</summary>
    private static readonly Dictionary<string, (string StorageType, int Bytes)> ScalarFormats = new()
    {
        ["F32"] = ("float", 4),
        ["F16"] = ("global::System.Half", 2),
        ["BF16"] = ("ushort", 2),
        ["F64"] = ("double", 8),
        ["I8"] = ("sbyte", 1),
        ["I16"] = ("short", 2),
        ["I32"] = ("int", 4),
        ["I64"] = ("long", 8),
        ["E8M0"] = ("byte", 1),
        ["UE4M3"] = ("byte", 1),
    };

    private const int MaxFieldBytes = 1 << 16;

    public static bool TryGetKind(INamedTypeSymbol attributeClass, out FieldKind kind) =>
        KindsByAttribute.TryGetValue(attributeClass.Name, out kind)
        && attributeClass.ContainingNamespace.ToDisplayString() == GgmlBlockGenerator.LanguageNamespace;

    /// <summary>Reads one field; returns null (after adding diagnostics) when it cannot be laid out.</summary>
    public static FieldModel? Read(FieldKind kind, AttributeData data, LocationInfo? location, string blockName, List<DiagnosticInfo> diagnostics)
    {
        var args = new AttributeArguments(data);
        var name = args.GetString("name") ?? "";
        var problems = new List<string>();

        if (args.HasErrors)
        {
            problems.Add("its arguments are missing or do not bind");
        }
        else if (!SyntaxFacts.IsValidIdentifier(name) || SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None)
        {
            problems.Add($"'{name}' is not a valid C# field name");
        }

        var field = problems.Count == 0
            ? kind switch
            {
                FieldKind.Element or FieldKind.Scale or FieldKind.Min or FieldKind.Sum => ReadScalar(kind, name, args, location, problems),
                FieldKind.Trits => ReadTrits(name, args, location, problems),
                _ => ReadPacked(kind, name, args, location, problems),
            }
            : null;

        foreach (var problem in problems)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidField, location, name, blockName, problem));
        }

        return problems.Count == 0 ? field : null;
    }

    private static FieldModel? ReadScalar(FieldKind kind, string name, AttributeArguments args, LocationInfo? location, List<string> problems)
    {
        var format = args.GetEnumMemberName("format") ?? "";
        if (!ScalarFormats.TryGetValue(format, out var storage))
        {
            problems.Add($"number format '{format}' has no width of its own; use F32, F16, BF16, F64, I8..I64, E8M0 or UE4M3");
            return null;
        }

        return new FieldModel(
            name, kind, format, storage.Bytes * 8, Count: 1, Signed: false, WithMins: false, ValuesPerIndex: 0, PerByte: 0,
            Lookup: null, Order: "Sequential", storage.StorageType, BufferLength: 0, storage.Bytes, ValuesCarried: kind == FieldKind.Element ? 1 : 0, location);
    }

    private static FieldModel? ReadTrits(string name, AttributeArguments args, LocationInfo? location, List<string> problems)
    {
        var count = args.GetInt32("count", 0);
        var perByte = args.GetInt32("perByte", 0);
        if (count < 1)
        {
            problems.Add($"count must be at least 1 (got {count})");
        }

        // 3^5 = 243 is the most base-3 digits a byte can hold.
        if (perByte is < 1 or > 5)
        {
            problems.Add($"perByte must be 1 to 5 (got {perByte})");
        }
        else if (count % perByte != 0)
        {
            problems.Add($"count {count} is not a whole number of bytes at {perByte} per byte");
        }

        if (problems.Count > 0)
        {
            return null;
        }

        var bytes = count / perByte;
        if (bytes > MaxFieldBytes)
        {
            problems.Add($"{bytes} bytes is more than a block field may hold ({MaxFieldBytes})");
            return null;
        }

        return new FieldModel(
            name, FieldKind.Trits, "Integer", Bits: 0, count, Signed: false, WithMins: false, ValuesPerIndex: 0, perByte,
            Lookup: null, Order: "Sequential", "byte", bytes, bytes, ValuesCarried: count, location);
    }

    private static FieldModel? ReadPacked(FieldKind kind, string name, AttributeArguments args, LocationInfo? location, List<string> problems)
    {
        var bits = kind == FieldKind.Signs ? 1 : args.GetInt32("bits", 0);
        var count = args.GetInt32("count", 0);
        var signed = args.GetBoolean("Signed");
        var withMins = args.GetBoolean("WithMins");
        var declaredWordBits = args.GetInt32("WordBits", 0);
        var valuesPerIndex = kind == FieldKind.GridIndex ? args.GetInt32("valuesPerIndex", 0) : 0;
        var format = args.GetEnumMemberName("Format") ?? "Integer";
        var lookup = args.GetString("Codebook") ?? args.GetString("Grid");
        var order = args.GetEnumMemberName("Order") ?? "Sequential";

        if (bits is < 1 or > 64)
        {
            problems.Add($"bits must be 1 to 64 (got {bits})");
        }

        if (count < 1)
        {
            problems.Add($"count must be at least 1 (got {count})");
        }

        if (declaredWordBits is not (0 or 8 or 16 or 32 or 64))
        {
            problems.Add($"WordBits must be 8, 16, 32 or 64 (got {declaredWordBits})");
        }

        if (kind == FieldKind.GridIndex && valuesPerIndex is < 1 or > MaxFieldBytes)
        {
            problems.Add($"valuesPerIndex must be 1 to {MaxFieldBytes} (got {valuesPerIndex})");
        }

        if (format != "Integer" && (!ScalarFormats.TryGetValue(format, out var scalar) || scalar.Bytes * 8 != bits))
        {
            problems.Add($"format {format} does not fit items of {bits} bits");
        }

        if (problems.Count > 0)
        {
            return null;
        }

        var wordBits = declaredWordBits != 0 ? declaredWordBits : bits is 16 or 32 or 64 ? bits : 8;
        var totalBits = (long)bits * count * (withMins ? 2 : 1);
        if (totalBits % wordBits != 0)
        {
            problems.Add($"{totalBits} bits is not a whole number of {wordBits}-bit words");
            return null;
        }

        // Blocks are a few hundred bytes; a huge field is a typo, and would overflow the sums below.
        if (totalBits / 8 > MaxFieldBytes)
        {
            problems.Add($"{totalBits / 8} bytes is more than a block field may hold ({MaxFieldBytes})");
            return null;
        }

        var length = (int)(totalBits / wordBits);
        var values = kind switch
        {
            FieldKind.Quants => count,
            FieldKind.GridIndex => count * valuesPerIndex,
            _ => 0,
        };

        return new FieldModel(
            name, kind, format, bits, count, signed, withMins, valuesPerIndex, PerByte: 0, lookup, order,
            StorageType(wordBits, signed && bits == wordBits), length, length * (wordBits / 8), values, location)
        {
            ValueOffset = kind == FieldKind.SubScales ? args.GetInt32("Offset", 0) : 0,
        };
    }

    private static string StorageType(int wordBits, bool signed) => wordBits switch
    {
        8 => signed ? "sbyte" : "byte",
        16 => signed ? "short" : "ushort",
        32 => signed ? "int" : "uint",
        _ => signed ? "long" : "ulong",
    };
}
