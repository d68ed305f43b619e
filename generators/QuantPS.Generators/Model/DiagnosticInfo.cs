using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace QuantPS.Generators.Model;

/// <summary>A source position without the syntax tree, so models do not pin old compilations.</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public static LocationInfo? From(Location? location) =>
        location is null || location.SourceTree is null
            ? null
            : new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);

    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);
}

/// <summary>A diagnostic to report later, kept as plain data inside a model.</summary>
internal sealed record DiagnosticInfo(string DescriptorId, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] arguments) =>
        new(descriptor.Id, location, arguments.ToEquatableArray());

    public Diagnostic ToDiagnostic()
    {
        var arguments = new object[Arguments.Count];
        for (var i = 0; i < arguments.Length; i++)
        {
            arguments[i] = Arguments[i];
        }

        return Diagnostic.Create(Diagnostics.ById(DescriptorId), Location?.ToLocation() ?? Microsoft.CodeAnalysis.Location.None, arguments);
    }
}
