/* Instantiates the ABI header in a host build so its _Static_asserts run on this side too. */
#include "flowwatch_abi.h"
