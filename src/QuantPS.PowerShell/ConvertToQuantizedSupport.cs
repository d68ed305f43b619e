using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Quantization;
using QuantPS.Quantization.Job;

namespace QuantPS.PowerShell;

/// <summary>Tab completion for -Type: llama-quantize's names with their descriptions.</summary>
public sealed class QuantizeTypeCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        QuantizeFileType.All
            .Where(t => t.Name.StartsWith(wordToComplete.Trim('\'', '"'), StringComparison.OrdinalIgnoreCase))
            .Select(t => new CompletionResult(t.Name, t.Name, CompletionResultType.ParameterValue, $"{t.Name}: {t.Description}"));
}

/// <summary>Tab completion for tensor types (-OutputTensorType, -TokenEmbeddingType): ggml's names.</summary>
public sealed class GgmlTypeCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        GgmlTypeTraits.All
            .Where(t => TypeQuantizer.IsSupported(t.Type) && t.GgmlName.StartsWith(wordToComplete.Trim('\'', '"'), StringComparison.OrdinalIgnoreCase))
            .Select(t => new CompletionResult(t.GgmlName, t.GgmlName, CompletionResultType.ParameterValue, t.Name));
}

/// <summary>Parameter conversions and error records for ConvertTo-Quantized.</summary>
internal static class QuantizeCmdletSupport
{
    public const string OutputNotWritable = "QuantizeOutputNotWritable";

    public static GgmlType ParseTensorType(string text, string parameter) =>
        GgmlTypeTraits.TryParse(text?.Trim(), out var info)
            ? info.Type
            : throw new QuantizationException(QuantizeErrorIds.UnknownType,
                $"-{parameter}: '{text}' is not a tensor type. Use a ggml name such as q8_0, q6_k, f16.");

    /// <summary>-TensorType @{'attn_v'='q8_0'}: in the dictionary's order ([ordered] keeps it; the first match wins).</summary>
    public static List<KeyValuePair<string, GgmlType>> TensorTypes(IDictionary? map)
    {
        var list = new List<KeyValuePair<string, GgmlType>>();
        if (map is null) return list;
        foreach (DictionaryEntry e in map)
        {
            var pattern = e.Key?.ToString() ?? string.Empty;
            try
            {
                _ = new System.Text.RegularExpressions.Regex(pattern, System.Text.RegularExpressions.RegexOptions.ECMAScript);
            }
            catch (ArgumentException x)
            {
                throw new QuantizationException(QuantizeErrorIds.BadOverride, $"-TensorType: '{pattern}' is not a valid pattern: {x.Message}");
            }

            list.Add(new(pattern, ParseTensorType(e.Value?.ToString() ?? string.Empty, "TensorType")));
        }

        return list;
    }

    /// <summary>-OverrideMetadata @{key=value}: as llama-quantize's --override-kv (integers become UInt32, floats Float32).</summary>
    public static List<GgufMetadataEntry> Metadata(IDictionary? map)
    {
        var list = new List<GgufMetadataEntry>();
        if (map is null) return list;
        foreach (DictionaryEntry e in map)
        {
            var key = e.Key?.ToString() ?? string.Empty;
            object? value = e.Value is PSObject p ? p.BaseObject : e.Value;
            list.Add(value switch
            {
                GgufMetadataEntry entry => new GgufMetadataEntry(key, entry.Type, entry.Value),
                bool b => GgufMetadataEntry.Of(key, b),
                string s => GgufMetadataEntry.Of(key, s),
                float or double or decimal => GgufMetadataEntry.Of(key, Convert.ToSingle(value, System.Globalization.CultureInfo.InvariantCulture)),
                sbyte or byte or short or ushort or int or uint or long or ulong =>
                    GgufMetadataEntry.Of(key, (uint)Math.Abs(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture))),
                _ => throw new QuantizationException(QuantizeErrorIds.BadOverride,
                    $"-OverrideMetadata: {key} has a {value?.GetType().Name ?? "null"} value; use a string, number or bool."),
            });
        }

        return list;
    }

    public static ErrorRecord Error(QuantizationException e, object target) => new(e, e.ErrorId, e.ErrorId switch
    {
        QuantizeErrorIds.UnknownType or QuantizeErrorIds.SameFile or QuantizeErrorIds.BadOverride or QuantizeErrorIds.BadPruneLayers => ErrorCategory.InvalidArgument,
        QuantizeErrorIds.SplitShardEmpty => ErrorCategory.InvalidOperation,
        QuantizeErrorIds.TypeNotSupported => ErrorCategory.NotImplemented,
        QuantizeErrorIds.RequantizeDisabled or QuantizeErrorIds.NotQuantizable => ErrorCategory.InvalidData,
        QuantizeErrorIds.ImportanceRequired or QuantizeErrorIds.NoFallback => ErrorCategory.InvalidOperation,
        QuantizeErrorIds.VerifyFailed => ErrorCategory.WriteError,
        _ => ErrorCategory.InvalidData,
    }, target);

    public static ErrorRecord NotWritable(string path, string why, Exception? inner = null) =>
        new(new IOException($"Cannot write {path}: {why}", inner), OutputNotWritable, ErrorCategory.PermissionDenied, path);
}
