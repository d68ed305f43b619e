using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using QuantPS.Memory;
using QuantPS.Quantization;

namespace QuantPS.PowerShell;

/// <summary>Tab completion for -Preset: the known model shapes.</summary>
public sealed class ModelPresetCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        ModelPresets.All
            .Where(p => p.Name.StartsWith(wordToComplete.Trim('\'', '"'), StringComparison.OrdinalIgnoreCase))
            .Select(p => new CompletionResult(p.Name, p.Name, CompletionResultType.ParameterValue,
                $"{p.Name}: {p.ParameterCount / 1e9:0.00} B parameters, {p.BlockCount} layers, context {p.ContextLength}"));
}

/// <summary>Memory-estimate failures as ErrorRecords with the engine's stable ErrorIds.</summary>
internal static class MemoryErrors
{
    public static ErrorRecord From(MemoryEstimateException e, object? target) =>
        new(e, e.ErrorId, CategoryOf(e.ErrorId), target);

    public static ErrorRecord From(QuantizationException e, object? target) =>
        new(e, e.ErrorId, ErrorCategory.InvalidOperation, target);

    public static ErrorRecord Create(string errorId, string message, object? target) =>
        From(new MemoryEstimateException(errorId, message), target);

    private static ErrorCategory CategoryOf(string id) => id switch
    {
        MemoryErrorIds.UnknownPreset => ErrorCategory.ObjectNotFound,
        MemoryErrorIds.NotATextModel => ErrorCategory.InvalidData,
        MemoryErrorIds.KvTypeIncompatible or MemoryErrorIds.KvTypeNeedsFlashAttention => ErrorCategory.InvalidOperation,
        _ => ErrorCategory.InvalidArgument,
    };
}
