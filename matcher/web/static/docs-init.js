// Swagger UI for /docs, on the OpenAPI schema this server generates.
// validatorUrl: null keeps Swagger UI from calling its online validator.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
