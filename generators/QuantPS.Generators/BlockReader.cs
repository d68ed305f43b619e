using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using QuantPS.Generators.Kernels;
using QuantPS.Generators.Model;

namespace QuantPS.Generators;

/// <summary>Reads a <c>[GgmlBlock]</c> struct into a <see cref="BlockModel"/> and checks it on its own.</summary>
internal static class BlockReader
{
    private static readonly HashSet<string> ReservedMemberNames = new(StringComparer.Ordinal) { "GgmlType", "BlockSize", "TypeSize" };

    /// <summary>Never throws (except on cancellation): a failure becomes a QPSG009 diagnostic on the model.</summary>
    public static BlockModel Read(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var symbol = context.TargetSymbol;
        var fallbackLocation = LocationInfo.From(symbol.Locations.FirstOrDefault());
        try
        {
            return ReadChecked(context, cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            var failure = DiagnosticInfo.Create(Diagnostics.GeneratorFailure, fallbackLocation, symbol.Name, exception.GetType().Name + ": " + exception.Message);
            return new BlockModel(
                "", symbol.Name, 0, "", "", 0, 0, false, EquatableArray<FieldModel>.Empty, Kernel: null, fallbackLocation,
                HeaderIsValid: false, CanEmitStruct: false, new[] { failure }.ToEquatableArray());
        }
    }

    private static BlockModel ReadChecked(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var symbol = (INamedTypeSymbol)context.TargetSymbol;
        var declaration = (TypeDeclarationSyntax)context.TargetNode;
        var blockAttribute = context.Attributes[0];
        var location = LocationInfo.From(blockAttribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation())
            ?? LocationInfo.From(declaration.Identifier.GetLocation());
        var diagnostics = new List<DiagnosticInfo>();

        var canEmitStruct = declaration is StructDeclarationSyntax
            && symbol.ContainingType is null
            && symbol.TypeParameters.Length == 0
            && declaration.Modifiers.Any(SyntaxKind.PartialKeyword);
        if (!canEmitStruct)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.NotPartialStruct, LocationInfo.From(declaration.Identifier.GetLocation()), symbol.Name));
        }

        var header = ReadHeader(symbol.Name, blockAttribute, location, diagnostics);
        var fields = ReadFields(symbol, diagnostics, cancellationToken);
        var isQuantized = !(fields.Count == 1 && fields[0].Kind == FieldKind.Element);
        var kernel = KernelSpecReader.Read(symbol, diagnostics, cancellationToken);

        if (header.IsValid && diagnostics.Count == 0)
        {
            CheckTotals(symbol.Name, header, fields, location, diagnostics);
        }

        var ns = symbol.ContainingNamespace.IsGlobalNamespace ? "" : symbol.ContainingNamespace.ToDisplayString();
        return new BlockModel(
            ns, symbol.Name, header.Id, header.Name, header.GgmlName, header.BlockSize, header.TypeSize, isQuantized,
            fields.ToEquatableArray(), kernel, location, header.IsValid, canEmitStruct, diagnostics.ToEquatableArray());
    }

    private static Header ReadHeader(string structName, AttributeData attribute, LocationInfo? location, List<DiagnosticInfo> diagnostics)
    {
        var args = new AttributeArguments(attribute);
        var problems = new List<string>();
        var id = args.GetInteger("id");
        var name = args.GetString("name") ?? "";
        var ggmlName = args.GetString("ggmlName") ?? "";
        var blockSize = args.GetInt32("blockSize", 0);
        var typeSize = args.GetInt32("typeSize", 0);

        if (args.HasErrors)
        {
            problems.Add("its arguments (id, name, ggmlName, blockSize, typeSize) are missing or do not bind");
        }
        else
        {
            if (id is null or < 0 or > uint.MaxValue)
            {
                problems.Add("id must be a wire id (uint)");
            }

            if (!SyntaxFacts.IsValidIdentifier(name) || SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None)
            {
                problems.Add($"name '{name}' is not a valid enum member name");
            }

            if (!SyntaxFacts.IsValidIdentifier(ggmlName))
            {
                problems.Add($"ggmlName '{ggmlName}' must be letters, digits and underscores");
            }

            if (blockSize < 1)
            {
                problems.Add($"blockSize must be at least 1 (got {blockSize})");
            }

            if (typeSize < 1)
            {
                problems.Add($"typeSize must be at least 1 (got {typeSize})");
            }
        }

        foreach (var problem in problems)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidDeclaration, location, structName, "GgmlBlock", problem));
        }

        return new Header(problems.Count == 0, (uint)(id ?? 0), name, ggmlName, blockSize, typeSize);
    }

    private static List<FieldModel> ReadFields(INamedTypeSymbol symbol, List<DiagnosticInfo> diagnostics, CancellationToken cancellationToken)
    {
        var fields = new List<FieldModel>();
        var names = new HashSet<string>(StringComparer.Ordinal);

        // GetAttributes keeps source order, which is the wire order of the fields.
        foreach (var attribute in symbol.GetAttributes())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (attribute.AttributeClass is not { } attributeClass || !DerivesFromBlockField(attributeClass))
            {
                continue;
            }

            var location = LocationInfo.From(attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation());
            if (!FieldReader.TryGetKind(attributeClass, out var kind))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnknownFieldKind, location, attributeClass.Name, symbol.Name));
                continue;
            }

            var field = FieldReader.Read(kind, attribute, location, symbol.Name, diagnostics);
            if (field is null)
            {
                continue;
            }

            var clash = ReservedMemberNames.Contains(field.Name) || field.Name == symbol.Name
                ? "its name is taken by a generated member"
                : !names.Add(field.Name) ? "another field already has this name" : null;
            if (clash is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidField, location, field.Name, symbol.Name, clash));
                continue;
            }

            fields.Add(field);
        }

        return fields;
    }

    private static void CheckTotals(string structName, Header header, List<FieldModel> fields, LocationInfo? location, List<DiagnosticInfo> diagnostics)
    {
        var elementField = fields.FirstOrDefault(field => field.Kind == FieldKind.Element);
        if (elementField is not null && (fields.Count != 1 || header.BlockSize != 1))
        {
            diagnostics.Add(DiagnosticInfo.Create(
                Diagnostics.InvalidField, elementField.Location, elementField.Name, structName,
                "an Element field must be the only field of a type with blockSize 1"));
            return;
        }

        var bytes = fields.Sum(field => (long)field.Bytes);
        if (bytes != header.TypeSize)
        {
            var breakdown = string.Join(" + ", fields.Select(field => field.Name + " " + Text(field.Bytes)));
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.TypeSizeMismatch, location, structName, Text(bytes), breakdown, Text(header.TypeSize)));
        }

        var values = fields.Sum(field => (long)field.ValuesCarried);
        if (values != header.BlockSize)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.ValueCountMismatch, location, structName, Text(values), Text(header.BlockSize)));
        }
    }

    private static bool DerivesFromBlockField(INamedTypeSymbol attributeClass)
    {
        for (var type = attributeClass.BaseType; type is not null; type = type.BaseType)
        {
            if (type.Name == "BlockFieldAttribute" && type.ContainingNamespace.ToDisplayString() == GgmlBlockGenerator.LanguageNamespace)
            {
                return true;
            }
        }

        return false;
    }

    private static string Text(long value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private sealed record Header(bool IsValid, uint Id, string Name, string GgmlName, int BlockSize, int TypeSize);
}
