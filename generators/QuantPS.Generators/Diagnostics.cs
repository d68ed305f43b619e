using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace QuantPS.Generators;

/// <summary>Everything the block-format generator can report. Ids are stable: tests and docs cite them.</summary>
internal static class Diagnostics
{
    private const string Category = "QuantPS.BlockFormat";

    public static readonly DiagnosticDescriptor TypeSizeMismatch = Error(
        "QPSG001",
        "Block fields do not add up to the declared type size",
        "'{0}' lays out {1} bytes from its fields ({2}) but declares typeSize {3}");

    public static readonly DiagnosticDescriptor ValueCountMismatch = Error(
        "QPSG002",
        "Block fields do not carry the declared block size",
        "'{0}' has fields carrying {1} values but declares blockSize {2}");

    public static readonly DiagnosticDescriptor DuplicateId = Error(
        "QPSG003",
        "GGML type id declared twice",
        "GGML type id {0} of '{1}' is already used by '{2}'");

    public static readonly DiagnosticDescriptor DuplicateName = Error(
        "QPSG004",
        "GGML type name declared twice",
        "GGML type name '{0}' of '{1}' is already used by '{2}'");

    public static readonly DiagnosticDescriptor InvalidField = Error(
        "QPSG005",
        "Invalid block field",
        "Field '{0}' of '{1}' is invalid: {2}");

    public static readonly DiagnosticDescriptor InvalidDeclaration = Error(
        "QPSG006",
        "Invalid or incomplete type declaration",
        "'{0}' has an invalid [{1}]: {2}");

    public static readonly DiagnosticDescriptor UnknownFieldKind = Error(
        "QPSG007",
        "Unknown block field kind",
        "'{0}' on '{1}' derives from BlockFieldAttribute but is not a field kind the generator knows");

    public static readonly DiagnosticDescriptor NotPartialStruct = Error(
        "QPSG008",
        "[GgmlBlock] needs a top-level, non-generic partial struct",
        "'{0}' must be a top-level, non-generic partial struct for the generator to lay it out");

    public static readonly DiagnosticDescriptor GeneratorFailure = Error(
        "QPSG009",
        "The block-format generator failed",
        "The block-format generator failed on '{0}': {1}");

    public static readonly DiagnosticDescriptor InvalidReconstruction = Error(
        "QPSG010",
        "Reconstruction does not fit the block's fields",
        "'{0}' cannot rebuild its values as declared: {1}");

    public static readonly DiagnosticDescriptor InvalidCodebook = Error(
        "QPSG011",
        "Invalid or missing codebook",
        "Codebook '{0}' {1}");

    public static readonly DiagnosticDescriptor InvalidActivation = Error(
        "QPSG012",
        "Invalid activation pairing",
        "'{0}' pairs with activation type '{1}', which {2}");

    public static readonly DiagnosticDescriptor InvalidQuantizer = Error(
        "QPSG013",
        "Activation quantizer does not fit the block's fields",
        "'{0}' cannot be quantized by rule {1}: {2}");

    public static readonly DiagnosticDescriptor NoKernelRecipe = Error(
        "QPSG014",
        "No kernel family emits this description",
        "No kernel family emits {0} for '{1}' ({2}); add a recipe under generators/QuantPS.Generators/Kernels");

    public static readonly DiagnosticDescriptor InvalidOrder = Error(
        "QPSG015",
        "Field order does not fit the field",
        "Field '{0}' of '{1}' cannot use QuantOrder.{2}: {3}");

    public static readonly DiagnosticDescriptor InvalidGrid = Error(
        "QPSG016",
        "Invalid or missing grid",
        "Grid '{0}' {1}");

    public static readonly DiagnosticDescriptor InvalidGridPart = Error(
        "QPSG017",
        "Grid decoding does not fit the block",
        "'{0}' cannot read its grid values as declared: {1}");

    private static readonly Dictionary<string, DiagnosticDescriptor> Descriptors = new[]
    {
        TypeSizeMismatch, ValueCountMismatch, DuplicateId, DuplicateName, InvalidField,
        InvalidDeclaration, UnknownFieldKind, NotPartialStruct, GeneratorFailure,
        InvalidReconstruction, InvalidCodebook, InvalidActivation, InvalidQuantizer, NoKernelRecipe,
        InvalidOrder, InvalidGrid, InvalidGridPart,
    }.ToDictionary(descriptor => descriptor.Id);

    public static DiagnosticDescriptor ById(string id) => Descriptors[id];

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
}
