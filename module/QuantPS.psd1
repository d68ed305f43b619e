#
# Module manifest for QuantPS: quantized LLMs (GGUF, llama.cpp-compatible) from PowerShell.
#
@{
    RootModule           = 'QuantPS.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = 'af1b2125-b41c-4932-bac5-87e666ebaeec'
    Author               = 'QuantPS contributors'
    CompanyName          = 'QuantPS contributors'
    Copyright            = '(c) 2026 QuantPS contributors. All rights reserved.'
    Description          = 'Inspect, validate, quantize and run GGUF language models (llama.cpp-compatible) with typed objects, pipeline input and stable ErrorIds. Pure .NET: no native llama.cpp needed.'
    CompatiblePSEditions = @('Core')
    PowerShellVersion    = '7.4'
    # Loaded with the module so engine types ([QuantPS.Gguf.GgufRemoteOptions], ...) resolve before any cmdlet runs.
    RequiredAssemblies   = @('QuantPS.Kernels.dll', 'QuantPS.dll')
    FormatsToProcess     = @('QuantPS.format.ps1xml')
    CmdletsToExport      = @('Get-GgufInfo', 'Test-Gguf', 'ConvertTo-LlmToken', 'ConvertFrom-LlmToken', 'ConvertTo-Quantized', 'Measure-LlmMemory', 'Invoke-LocalLlm', 'Open-LlmModel', 'Close-LlmModel')
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('GGUF', 'LLM', 'llama.cpp', 'Quantization', 'AI', 'MachineLearning', 'PSEdition_Core', 'Windows', 'Linux', 'MacOS')
            ReleaseNotes = 'First release: Get-GgufInfo and Test-Gguf.'
        }
    }
}
