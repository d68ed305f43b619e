namespace QuantPS.Kernels.Formats;

/// <summary>Wire ids ggml has removed; kept so readers can name them and no live type reuses them.</summary>
[RetiredGgmlType(4, "Q4_2")]
[RetiredGgmlType(5, "Q4_3")]
[RetiredGgmlType(31, "Q4_0_4_4")]
[RetiredGgmlType(32, "Q4_0_4_8")]
[RetiredGgmlType(33, "Q4_0_8_8")]
[RetiredGgmlType(36, "IQ4_NL_4_4")]
[RetiredGgmlType(37, "IQ4_NL_4_8")]
[RetiredGgmlType(38, "IQ4_NL_8_8")]
internal static class RetiredGgmlTypes;
